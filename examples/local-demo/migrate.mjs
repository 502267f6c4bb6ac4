// The demo's "migrate": a short job (a schema migration, say) that succeeds.
console.log('migrate: applying 3 migrations');
setTimeout(() => console.log('migrate: done, exiting 0'), 100);
