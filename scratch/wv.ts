import pg from 'pg';
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
async function cpu(label: string, fn: () => Promise<unknown>, n = 3000) {
  for (let i = 0; i < 300; i++) await fn();
  const c0 = process.cpuUsage(); const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const c = process.cpuUsage(c0);
  console.log(label.padEnd(44), ((c.user + c.system) / n).toFixed(0).padStart(5), 'us CPU/op', ((performance.now() - t0) / n * 1000).toFixed(0).padStart(5), 'us wall/op');
}
await cpu('simple protocol: select 1', () => pool.query('select 1'));
await cpu('extended: select $1::text', () => pool.query('select $1::text', ['x']));
await cpu('extended named (prepared)', () => pool.query({ name: 'q1', text: 'select $1::text', values: ['x'] }));
await pool.end();
