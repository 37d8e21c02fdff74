package kube

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 6455 section 1.3's worked example.
func TestWebsocketAccept(t *testing.T) {
	assert.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", websocketAccept("dGhlIHNhbXBsZSBub25jZQ=="))
}

// fakeKubeletStream is a contract fake of the server side of a port-forward WebSocket as the
// kubelet writes it (k8s.io/kubelet v0.35.3 pkg/cri/streaming/portforward/websocket.go
// handleWebSocketStreams: the port as two little-endian bytes first on the data and the error
// channel, then channel-prefixed binary messages). It answers each data message with the data
// upper-cased, split over a binary frame and a continuation frame; "fail" makes it write error
// text and close, as portForward does when the forwarder fails. Anything else it does not know
// fails the test.
func fakeKubeletStream(t *testing.T) *httptest.Server {
	return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/namespaces/gitea/pods/denied/portforward" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"kind":"Status","status":"Failure","reason":"Forbidden","message":"pods \"denied\" is forbidden: User \"x\" cannot create resource \"pods/portforward\""}`)
			return
		}
		if r.URL.Path != "/api/v1/namespaces/gitea/pods/gitea-0/portforward" || r.URL.Query().Get("ports") != "3000" ||
			r.Header.Get("Upgrade") != "websocket" || r.Header.Get("Sec-WebSocket-Protocol") != portForwardProtocol || r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("unexpected request %s %v", r.URL, r.Header)
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		require.NoError(t, err)
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			websocketAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\nSec-WebSocket-Protocol: " + portForwardProtocol + "\r\n\r\n")
		frame := func(b0 byte, payload []byte) { // unmasked, as a server sends
			_ = brw.WriteByte(b0)
			_ = brw.WriteByte(byte(len(payload)))
			_, _ = brw.Write(payload)
		}
		port := binary.LittleEndian.AppendUint16(nil, 3000)
		frame(0x82, append([]byte{0}, port...))
		frame(0x82, append([]byte{1}, port...))
		_ = brw.Flush()
		for {
			payload, op := readClientFrame(t, brw.Reader)
			if op == opClose {
				return
			}
			require.Equal(t, byte(opBinary), op)
			require.Equal(t, byte(0), payload[0], "data on channel 0")
			data := string(payload[1:])
			if data == "fail" {
				frame(0x82, []byte("\x01error forwarding port 3000 to pod gitea-0: connection refused"))
				frame(0x88, []byte{0x03, 0xE8})
				_ = brw.Flush()
				return
			}
			up := []byte(strings.ToUpper(data))
			frame(0x02, append([]byte{0}, up[:1]...)) // binary, not final
			frame(0x80, up[1:])                       // continuation, final
			_ = brw.Flush()
		}
	}))
}

func readClientFrame(t *testing.T, br *bufio.Reader) ([]byte, byte) {
	var h [2]byte
	_, err := io.ReadFull(br, h[:])
	require.NoError(t, err)
	require.NotZero(t, h[1]&0x80, "a client frame is masked (RFC 6455 5.3)")
	n := int(h[1] & 0x7F)
	require.Less(t, n, 126)
	var mask [4]byte
	_, err = io.ReadFull(br, mask[:])
	require.NoError(t, err)
	p := make([]byte, n)
	_, err = io.ReadFull(br, p)
	require.NoError(t, err)
	for i := range p {
		p[i] ^= mask[i%4]
	}
	return p, h[0] & 0x0F
}

func TestPortForwardCarriesDataOnChannelZero(t *testing.T) {
	srv := fakeKubeletStream(t)
	defer srv.Close()
	c := &Client{Server: srv.URL, HTTP: srv.Client(), token: "tok"}
	conn, err := c.PortForward(context.Background(), "gitea", "gitea-0", 3000)
	require.NoError(t, err)
	defer conn.Close()
	for _, msg := range []string{"get /api/healthz", "again"} {
		_, err = conn.Write([]byte(msg))
		require.NoError(t, err)
		buf := make([]byte, len(msg))
		_, err = io.ReadFull(conn, buf)
		require.NoError(t, err)
		assert.Equal(t, strings.ToUpper(msg), string(buf), "the port bytes are dropped, continuation frames joined")
	}
	_, err = conn.Write([]byte("fail"))
	require.NoError(t, err)
	_, err = conn.Read(make([]byte, 10))
	require.Error(t, err)
	assert.Equal(t, "port-forward to pod gitea/gitea-0 port 3000: error forwarding port 3000 to pod gitea-0: connection refused", err.Error())
	var _ net.Conn = conn
}

func TestPortForwardNamesTheAPIServersRefusal(t *testing.T) {
	srv := fakeKubeletStream(t)
	defer srv.Close()
	c := &Client{Server: srv.URL, HTTP: srv.Client(), token: "tok"}
	_, err := c.PortForward(context.Background(), "gitea", "denied", 3000)
	require.Error(t, err)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusForbidden, se.Code)
	assert.Contains(t, err.Error(), `cannot create resource "pods/portforward"`)
}

// connectProxy is an HTTP proxy that serves CONNECT only (RFC 9110 9.3.6): it checks the
// credentials when want is set, answers 200 and copies bytes both ways; it records each target.
func connectProxy(t *testing.T, want string) (addr string, targets chan string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	targets = make(chan string, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil || req.Method != http.MethodConnect {
					t.Errorf("proxy: want CONNECT, got %v %v", req, err)
					return
				}
				targets <- req.Host
				if want != "" && req.Header.Get("Proxy-Authorization") != want {
					_, _ = io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
					return
				}
				up, err := net.Dial("tcp", req.Host)
				if err != nil {
					_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
					return
				}
				defer up.Close()
				_, _ = io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
				go func() { _, _ = io.Copy(up, br) }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().String(), targets
}

// The port-forward takes the proxy the client's transport names (as every other request does),
// with the proxy's credentials; a refusing proxy is named without its password.
func TestPortForwardGoesThroughTheTransportsProxy(t *testing.T) {
	srv := fakeKubeletStream(t)
	defer srv.Close()
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("u:s3cret"))
	addr, targets := connectProxy(t, auth)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: addr, User: url.UserPassword("u", "s3cret")})
	c := &Client{Server: srv.URL, HTTP: &http.Client{Transport: tr}, token: "tok"}
	conn, err := c.PortForward(context.Background(), "gitea", "gitea-0", 3000)
	require.NoError(t, err)
	_, err = conn.Write([]byte("through"))
	require.NoError(t, err)
	buf := make([]byte, 7)
	_, err = io.ReadFull(conn, buf)
	require.NoError(t, err)
	assert.Equal(t, "THROUGH", string(buf))
	conn.Close()
	select {
	case got := <-targets:
		assert.Equal(t, strings.TrimPrefix(srv.URL, "https://"), got, "one CONNECT to the API server")
	default:
		t.Fatal("the port-forward did not go through the proxy")
	}

	tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: addr, User: url.UserPassword("u", "wrong")})
	_, err = c.PortForward(context.Background(), "gitea", "gitea-0", 3000)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "407 Proxy Authentication Required")
	assert.NotContains(t, err.Error(), "wrong", "the proxy's password is not in the error")
	<-targets

	tr.Proxy = http.ProxyURL(&url.URL{Scheme: "socks5", Host: addr})
	_, err = c.PortForward(context.Background(), "gitea", "gitea-0", 3000)
	assert.ErrorContains(t, err, `scheme "socks5" is not supported for port-forward`)
}
