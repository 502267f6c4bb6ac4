// The demo's "client": a job that makes a few requests to the server and exits.
const url = `http://127.0.0.1:${process.env.PORT}/`;

async function get() {
  // The server may still be starting: a real job would retry too.
  for (let attempt = 0; ; attempt++) {
    try {
      return await (await fetch(url)).text();
    } catch (err) {
      if (attempt > 100) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

for (let i = 1; i <= 3; i++) console.log(`client: request ${i}: ${(await get()).trim()}`);
console.log('client: done, exiting 0');
