import { serializeValue } from './lib/value';
const small = { id: 7, name: 'Ada', roles: ['admin', 'user'], at: new Date(), prefs: { theme: 'dark', n: 3 } };
const big = { items: Array.from({ length: 5000 }, (_, i) => ({ i, name: `item ${i}`, tags: ['a', 'b'], price: i * 1.5 })) };
for (const [name, v] of [['small', small], ['big', big]] as const) {
  for (const [label, f] of [['walker', () => serializeValue('k', v)], ['JSON', () => JSON.stringify(v)]] as const) {
    const n = name === 'small' ? 200000 : 200;
    for (let i = 0; i < n / 10; i++) f();
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) f();
    console.log(name, label, Number(process.hrtime.bigint() - t) / n / 1000, 'us');
  }
}
console.log(serializeValue('k', big) === JSON.stringify(big));
