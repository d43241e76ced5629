"""Cryptographic formats the drill has to read and check after a restore.

Submodules (import them directly; nothing is re-exported here so that importing
``harness.crypto`` stays cheap):

- :mod:`harness.crypto.dapr`: Dapr's ``dapr.io/enc/v1`` ciphertexts;
- :mod:`harness.crypto.masterkey`: the ``master-key`` Kubernetes Secret that holds their
  key-encryption key, and how Dapr reads the key from it.
- :mod:`harness.crypto.betterauth`: better-auth's scrypt password hashes.
- :mod:`harness.crypto.license`: Scrydon license bundles (RS256 JWT + public key).
"""

__all__ = ["betterauth", "dapr", "license", "masterkey"]
