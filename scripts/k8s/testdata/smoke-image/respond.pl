#!/usr/bin/perl
# GET /healthz -> "ok"; any other path -> one line naming the pod, the message and the token
# (both from the environment, i.e. from a ConfigMap or a Secret). Serves one request at a time.
use strict;
use warnings;
use IO::Socket::INET;

# PID 1 in a container ignores signals it has no handler for: exit on SIGTERM.
$SIG{TERM} = $SIG{INT} = sub { exit 0 };
my $port = $ENV{PORT} || 8080;
my $server = IO::Socket::INET->new(LocalAddr => "0.0.0.0:$port", Listen => 16, ReuseAddr => 1)
  or die "listen on $port: $!\n";
print STDERR "listening on $port\n";
while (my $client = $server->accept) {
  my $request = <$client> // '';
  while (defined(my $line = <$client>)) { last if $line =~ /^\r?\n$/ }
  my ($path) = $request =~ m{^GET\s+(\S+)};
  my $body = defined $path && $path eq '/healthz'
    ? "ok\n"
    : sprintf("scrydon-drill smoke pod=%s message=%s token=%s\n",
              $ENV{HOSTNAME} // '-', $ENV{MESSAGE} // '-', $ENV{TOKEN} // '-');
  print $client "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
    . length($body) . "\r\nConnection: close\r\n\r\n$body";
  close $client;
}
