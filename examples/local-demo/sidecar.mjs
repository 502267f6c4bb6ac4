// The demo's long-running "batch" and "uploader": run until SIGTERM, then exit 0.
const name = process.argv[2];
console.log(`${name}: running`);
const keepAlive = setInterval(() => {}, 1 << 30);
process.on('SIGTERM', () => {
  console.log(`${name}: SIGTERM received, exiting 0`);
  clearInterval(keepAlive);
});
