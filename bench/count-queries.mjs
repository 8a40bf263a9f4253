// Preloaded into a benchmark's server (`--import`): counts the queries it sends to PostgreSQL (calls
// of pg's Client#query, a pooled query counted once) and prints the count on SIGUSR2.
import pg from 'pg';

let queries = 0;
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (...args) {
  queries++;
  return query.apply(this, args);
};
process.on('SIGUSR2', () => process.stdout.write(`\n[bench-queries] ${queries}\n`));
