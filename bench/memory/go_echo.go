// Go echo server for bench/memory (stdlib only; run with GOMAXPROCS=1): go_echo PORT
// One goroutine per connection, the idiomatic shape (its stack is the per-connection cost).
package main

import (
	"net"
	"os"
)

func main() {
	port := "27104"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			buf := make([]byte, 1024)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}(c)
	}
}
