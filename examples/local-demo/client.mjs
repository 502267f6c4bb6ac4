// The demo's "client": a job that makes a few requests to the server and exits. No retries:
// kubexit starts it only once the server's tombstone says Ready.
const url = `http://127.0.0.1:${process.env.PORT}/`;
for (let i = 1; i <= 3; i++) {
  console.log(`client: request ${i}: ${(await (await fetch(url)).text()).trim()}`);
}
console.log('client: done, exiting 0');
