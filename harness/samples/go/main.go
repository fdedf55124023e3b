// Command goleaks is the Go sample: two classic leaks in their original Go form, each
// switchable by -variant leaky|fixed.
//
//   - GET /stream: hijacked into a line protocol (client sends lines, server acks each).
//     Leaky: no read deadline, so a client that vanishes (no FIN) parks the handler
//     goroutine in Read forever. Fixed: SetReadDeadline before every read.
//   - GET /api/item/{id}: calls the upstream. Leaky: on a non-200 answer it returns
//     without closing resp.Body, so the connection (an FD and its readLoop/writeLoop
//     goroutines) is never given back. Fixed: defer resp.Body.Close(), drain with
//     io.Copy(io.Discard, ...), and a client timeout.
//
// It also serves /healthz, /metrics (go_goroutines, process_open_fds) and net/http/pprof.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"time"
)

// streamIdle is how long the fixed stream handler waits for the next line.
var streamIdle = 3 * time.Second

type server struct {
	fixed    bool
	upstream string
	client   *http.Client
}

func newServer(variant, upstream string) *server {
	s := &server{fixed: variant == "fixed", upstream: upstream, client: http.DefaultClient}
	if s.fixed {
		s.client = &http.Client{Timeout: 2 * time.Second}
	}
	return s
}

func (s *server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("GET /metrics", metrics)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /stream", s.stream)
	mux.HandleFunc("GET /api/item/{id}", s.item)
	return mux
}

// stream acks each line the client sends until the client closes (or goes quiet: fixed).
func (s *server) stream(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	_, _ = buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: lines\r\nConnection: Upgrade\r\n\r\n")
	if err := buf.Flush(); err != nil {
		return
	}
	lines := bufio.NewScanner(buf)
	for {
		if s.fixed {
			_ = conn.SetReadDeadline(time.Now().Add(streamIdle))
		}
		if !lines.Scan() {
			return // EOF, error, or (fixed) the client was quiet for streamIdle
		}
		if _, err := fmt.Fprintf(conn, "ack %s\n", lines.Text()); err != nil {
			return
		}
	}
}

// item looks the item up upstream and passes it on; upstream errors become 502s.
func (s *server) item(w http.ResponseWriter, r *http.Request) {
	url := s.upstream + "/item/" + r.PathValue("id")
	if s.fixed {
		s.itemFixed(w, url)
		return
	}
	resp, err := s.client.Get(url)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if relayItem(w, resp) {
		resp.Body.Close() // only on success: every early return above leaks the body
	}
}

func (s *server) itemFixed(w http.ResponseWriter, url string) {
	resp, err := s.client.Get(url)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	defer io.Copy(io.Discard, resp.Body) //nolint:errcheck // drain so the conn is reused
	relayItem(w, resp)
}

// relayItem writes the upstream's JSON item, or a 502 when the upstream failed; it reports
// whether it got that far. Closing the body is the caller's business (that is the leak).
func relayItem(w http.ResponseWriter, resp *http.Response) bool {
	if resp.StatusCode != http.StatusOK {
		http.Error(w, "upstream answered "+resp.Status, http.StatusBadGateway)
		return false
	}
	var item map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&item); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return false
	}
	writeJSON(w, item)
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// openFDs counts this process's open file descriptors.
func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries) - 1 // the directory handle ReadDir itself held
}

// metrics writes Prometheus text by hand (standard library only).
func metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# HELP go_goroutines Number of goroutines that currently exist.\n")
	fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	fmt.Fprintf(w, "# HELP process_open_fds Number of open file descriptors.\n")
	fmt.Fprintf(w, "# TYPE process_open_fds gauge\nprocess_open_fds %d\n", openFDs())
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	variant := flag.String("variant", "leaky", "leaky or fixed")
	upstream := flag.String("upstream", "http://127.0.0.1:8081", "upstream base URL")
	flag.Parse()
	if *variant != "leaky" && *variant != "fixed" {
		log.Fatalf("-variant: %q is not leaky or fixed", *variant)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("goleaks (%s) on %s, upstream %s", *variant, ln.Addr(), *upstream)
	srv := &http.Server{Handler: newServer(*variant, *upstream).routes(), ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(ln))
}
