// node.js echo server for bench/memory (one process): node node_echo.js PORT
const net = require('net');
const port = Number(process.argv[2] || 27105);
net.createServer((s) => { s.on('data', (d) => s.write(d)); s.on('error', () => {}); })
  .listen(port, '127.0.0.1', 4096);
