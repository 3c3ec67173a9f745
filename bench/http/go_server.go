// Go net/http peer of examples/http_server for bench/http/run.sh (stdlib only; run with
// GOMAXPROCS=1). go_server PORT   (127.0.0.1)
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	port := "18084"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	body := []byte("Hello, World!\n")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Server", "go")
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", "14")
		w.Write(body)
	})
	fmt.Printf("go http server on 127.0.0.1:%s\n", port)
	if err := http.ListenAndServe("127.0.0.1:"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
