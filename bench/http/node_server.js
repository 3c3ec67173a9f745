// node.js peer of examples/http_server for bench/http/run.sh: one process, the http module.
// node node_server.js PORT   (127.0.0.1)
const http = require('http');
const port = Number(process.argv[2] || 18083);
const body = 'Hello, World!\n';
http.createServer((req, res) => {
  res.writeHead(200, { 'Server': 'node', 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body);
}).listen(port, '127.0.0.1', 4096, () => console.log(`node http server on 127.0.0.1:${port}`));
