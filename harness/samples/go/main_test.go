package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// settle waits until the goroutine count stops moving and returns it.
func settle() int {
	last := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		time.Sleep(50 * time.Millisecond)
		now := runtime.NumGoroutine()
		if now == last {
			return now
		}
		last = now
	}
	return last
}

func failingUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":"overloaded"}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(up.Close)
	return up
}

// TestItemErrorsLeakBodiesOnlyInLeaky: N upstream 503s leave >= N connections' goroutines
// in leaky (each unclosed body pins a readLoop and a writeLoop); fixed reuses one.
func TestItemErrorsLeakBodiesOnlyInLeaky(t *testing.T) {
	const n = 20
	for _, variant := range []string{"leaky", "fixed"} {
		t.Run(variant, func(t *testing.T) {
			up := failingUpstream(t)
			s := newServer(variant, up.URL)
			s.client = &http.Client{Transport: &http.Transport{}} // a fresh pool per subtest
			gw := httptest.NewServer(s.routes())
			defer gw.Close()
			before := settle()
			for i := 0; i < n; i++ {
				resp, err := http.Get(fmt.Sprintf("%s/api/item/%d", gw.URL, i))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadGateway {
					t.Fatalf("status %d, want 502", resp.StatusCode)
				}
			}
			grown := settle() - before
			t.Logf("%s: goroutines +%d after %d upstream errors", variant, grown, n)
			if variant == "leaky" && grown < 2*n {
				t.Errorf("leaky: +%d goroutines, want >= %d", grown, 2*n)
			}
			if variant == "fixed" && grown > 6 {
				t.Errorf("fixed: +%d goroutines, want <= 6", grown)
			}
		})
	}
}

// TestSilentStreamClientParksHandlerOnlyInLeaky: a client that acks once and goes silent
// keeps its handler goroutine in leaky; fixed's read deadline ends it.
func TestSilentStreamClientParksHandlerOnlyInLeaky(t *testing.T) {
	streamIdle = 300 * time.Millisecond
	for _, variant := range []string{"leaky", "fixed"} {
		t.Run(variant, func(t *testing.T) {
			gw := httptest.NewServer(newServer(variant, "http://127.0.0.1:1").routes())
			defer gw.Close()
			conn, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close() // at the end: the peer "vanished" until then
			fmt.Fprint(conn, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
			r := bufio.NewReader(conn)
			for line, _ := r.ReadString('\n'); line != "\r\n"; line, _ = r.ReadString('\n') {
				if line == "" {
					t.Fatal("no upgrade answer")
				}
			}
			fmt.Fprint(conn, "ping 1\n")
			if ack, _ := r.ReadString('\n'); ack != "ack ping 1\n" {
				t.Fatalf("got %q", ack)
			}
			time.Sleep(3 * streamIdle)
			_ = conn.SetReadDeadline(time.Now().Add(time.Second))
			_, err = r.ReadString('\n') // EOF when the server gave up on us
			closed := err != nil && !isTimeout(err)
			t.Logf("%s: server closed the silent stream: %v", variant, closed)
			if closed != (variant == "fixed") {
				t.Errorf("%s: server closed=%v", variant, closed)
			}
		})
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestMetricsText: /metrics serves go_goroutines and process_open_fds as Prometheus text.
func TestMetricsText(t *testing.T) {
	rec := httptest.NewRecorder()
	metrics(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, name := range []string{"go_goroutines ", "process_open_fds "} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("missing %q in:\n%s", name, body)
		}
	}
}
