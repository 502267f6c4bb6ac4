// The demo's "server": takes a moment to start listening (its kubexit's TCP probe waits for
// that), answers HTTP until it is asked to stop, then closes cleanly.
import { createServer } from 'node:http';

const port = Number(process.env.PORT);
const server = createServer((req, res) => {
  console.log(`server: ${req.method} ${req.url}`);
  res.end(`hello from pid ${process.pid}\n`);
});
console.log('server: warming up for 300 ms before listening');
setTimeout(
  () =>
    server.listen(port, '127.0.0.1', () => console.log(`server: listening on 127.0.0.1:${port}`)),
  300,
);
process.on('SIGTERM', () => {
  console.log('server: SIGTERM received, closing');
  server.close(() => process.exit(0));
});
