/**
 * Child process that does nothing: the floor under a broker's idle RSS, since Runnel runs the
 * same way (Node with the tsx loader). Prints "ready", then idles for a minute at most.
 */
process.stdout.write('ready\n');
setTimeout(() => process.exit(0), 60_000);
