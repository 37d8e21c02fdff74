package kube

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PortForward opens one TCP stream to port of pod namespace/name through the API server's
// pods/portforward subresource: the same path `kubectl port-forward` takes (API server, then the
// node's kubelet, then the container runtime into the pod's network namespace), authenticated
// with this client's credentials and encrypted by the API server's TLS.
//
// The protocol is the WebSocket form of port-forward ("v4.channel.k8s.io", RFC 6455 framing):
// each message starts with a channel byte, channel 0 carries the data and channel 1 the error
// text of one port, and the first two bytes on each channel are the port number (little
// endian). The kubelet serves it in k8s.io/kubelet pkg/cri/streaming/portforward/websocket.go
// (v0.35.3: handleWebSocketStreams, NewV4Options reading ?ports=); the API server passes a
// WebSocket upgrade without the SPDY tunnelling sub-protocol through to the kubelet unchanged
// (k8s.io/kubernetes v1.35.3 pkg/registry/core/pod/rest/subresources.go PortForwardREST.Connect:
// only wsstream.IsWebSocketRequestWithTunnelingProtocol requests are translated). The
// WebSocket has no half-close: closing the stream closes the pod-side connection.
//
// The API server's service proxy would not do here: it drops the caller's Authorization header
// after authenticating the caller (k8s.io/apiserver v0.35.3 pkg/endpoints/filters/
// authentication.go WithAuthentication: req.Header.Del("Authorization")), so a Gitea token
// cannot ride it.
func (c *Client) PortForward(ctx context.Context, namespace, name string, port int) (net.Conn, error) {
	base, err := url.Parse(c.Server)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig server %q: %w", c.Server, err)
	}
	path := "/api/v1/namespaces/" + url.PathEscape(namespace) + "/pods/" + url.PathEscape(name) + "/portforward"
	u := *base
	u.Path = strings.TrimRight(base.Path, "/") + path
	u.RawQuery = url.Values{"ports": {strconv.Itoa(port)}}.Encode()
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("kubeconfig server %q: scheme must be https or http", c.Server)
	}
	conn, err := c.dialThroughProxy(ctx, &u, host)
	if err == nil && u.Scheme == "https" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if t, ok := c.HTTP.Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
			cfg = t.TLSClientConfig.Clone()
		}
		cfg.NextProtos = []string{"http/1.1"} // an upgrade needs HTTP/1.1, not h2
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(conn, cfg)
		if err = tc.HandshakeContext(ctx); err != nil {
			conn.Close()
		}
		conn = tc
	}
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s/%s: %w", namespace, name, err)
	}
	ws, err := c.upgrade(ctx, conn, &u, path)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("port-forward to pod %s/%s port %d: %w", namespace, name, port, err)
	}
	ws.what = fmt.Sprintf("port-forward to pod %s/%s port %d", namespace, name, port)
	return ws, nil
}

// portForwardProtocol is the WebSocket sub-protocol of port-forward (wsstream's
// ChannelWebSocketProtocol with the v4 prefix the kubelet's handler offers).
const portForwardProtocol = "v4.channel.k8s.io"

// websocketGUID is RFC 6455's key suffix for Sec-WebSocket-Accept (section 1.3).
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// websocketAccept is the Sec-WebSocket-Accept value the server must answer to key.
func websocketAccept(key string) string {
	h := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

func (c *Client) upgrade(ctx context.Context, conn net.Conn, u *url.URL, path string) (*wsConn, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	key := base64.StdEncoding.EncodeToString(nonce)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Protocol", portForwardProtocol)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(c.token))
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	}
	if err := req.Write(conn); err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, statusError(http.MethodGet, path, resp.StatusCode, data)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != websocketAccept(key) {
		return nil, fmt.Errorf("the API server's WebSocket answer has Sec-WebSocket-Accept %q, not the one for this key", got)
	}
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != portForwardProtocol {
		return nil, fmt.Errorf("the API server chose WebSocket sub-protocol %q, not %s", p, portForwardProtocol)
	}
	_ = conn.SetDeadline(time.Time{})
	return &wsConn{conn: conn, br: br, skip: [2]int{2, 2}, msgChannel: -1}, nil
}

// wsConn is one port of a port-forward WebSocket as a net.Conn: Write sends channel-0
// messages, Read returns channel-0 data; error-channel text ends the stream as an error.
type wsConn struct {
	conn net.Conn
	br   *bufio.Reader
	what string

	wmu sync.Mutex // frames are written whole (pongs come from Read)

	// read state (Read is not called concurrently, as for any net.Conn stream)
	pending    []byte
	skip       [2]int // port-number bytes still to drop on channel 0 and 1
	msgChannel int    // channel of the message being read; -1 until its first byte
	errText    []byte
	closed     bool

	closeOnce sync.Once
}

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
	maxFrame       = 16 << 20
	writeChunk     = 32 << 10
)

func (w *wsConn) Read(p []byte) (int, error) {
	for len(w.pending) == 0 {
		if w.closed {
			return 0, w.endErr()
		}
		if err := w.readFrame(); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				w.closed = true
				return 0, w.endErr()
			}
			return 0, err
		}
	}
	n := copy(p, w.pending)
	w.pending = w.pending[n:]
	return n, nil
}

// endErr is what Read returns once the stream ended: the kubelet's error text, or io.EOF.
func (w *wsConn) endErr() error {
	if len(w.errText) > 0 {
		return fmt.Errorf("%s: %s", w.what, strings.TrimSpace(string(w.errText)))
	}
	return io.EOF
}

// readFrame reads one frame and files its payload.
func (w *wsConn) readFrame() error {
	var h [2]byte
	if _, err := io.ReadFull(w.br, h[:]); err != nil {
		return err
	}
	op, masked := h[0]&0x0F, h[1]&0x80 != 0
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(w.br, b[:]); err != nil {
			return err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(w.br, b[:]); err != nil {
			return err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > maxFrame {
		return fmt.Errorf("%s: a WebSocket frame of %d bytes (more than %d)", w.what, n, maxFrame)
	}
	var mask [4]byte
	if masked {
		if _, err := io.ReadFull(w.br, mask[:]); err != nil {
			return err
		}
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(w.br, payload); err != nil {
		return err
	}
	if masked {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	switch op {
	case opClose:
		w.closed = true
		_ = w.writeFrame(opClose, payload[:min(len(payload), 2)])
		return nil
	case opPing:
		return w.writeFrame(opPong, payload)
	case opPong:
		return nil
	case opText, opBinary:
		w.msgChannel = -1
	case opContinuation:
	default:
		return fmt.Errorf("%s: unknown WebSocket opcode %#x", w.what, op)
	}
	if w.msgChannel < 0 && len(payload) > 0 {
		w.msgChannel, payload = int(payload[0]), payload[1:]
	}
	if w.msgChannel == 0 || w.msgChannel == 1 {
		drop := min(w.skip[w.msgChannel], len(payload))
		w.skip[w.msgChannel] -= drop
		payload = payload[drop:]
	}
	switch w.msgChannel {
	case 0:
		w.pending = payload
	case 1:
		if len(w.errText) < 4096 {
			w.errText = append(w.errText, payload[:min(len(payload), 4096-len(w.errText))]...)
		}
	}
	return nil
}

// writeFrame writes one whole, masked frame (RFC 6455 5.3: a client masks every frame).
func (w *wsConn) writeFrame(op byte, payload []byte) error {
	hdr := make([]byte, 0, 14)
	hdr = append(hdr, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n <= 0xFFFF:
		hdr = append(hdr, 0x80|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	var mask [4]byte
	if _, err := rand.Read(mask[:]); err != nil {
		return err
	}
	hdr = append(hdr, mask[:]...)
	frame := make([]byte, len(hdr)+len(payload))
	copy(frame, hdr)
	for i, b := range payload {
		frame[len(hdr)+i] = b ^ mask[i%4]
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	_, err := w.conn.Write(frame)
	return err
}

// Write sends p on the data channel, in messages of at most 32 KiB.
func (w *wsConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		chunk := p[done:min(len(p), done+writeChunk)]
		msg := make([]byte, 1+len(chunk))
		copy(msg[1:], chunk) // msg[0] = 0, the data channel
		if err := w.writeFrame(opBinary, msg); err != nil {
			return done, err
		}
		done += len(chunk)
	}
	return done, nil
}

// Close says goodbye (close code 1000) and closes the connection to the API server.
func (w *wsConn) Close() error {
	var err error
	w.closeOnce.Do(func() {
		_ = w.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_ = w.writeFrame(opClose, []byte{0x03, 0xE8})
		err = w.conn.Close()
	})
	return err
}

func (w *wsConn) LocalAddr() net.Addr                { return w.conn.LocalAddr() }
func (w *wsConn) RemoteAddr() net.Addr               { return w.conn.RemoteAddr() }
func (w *wsConn) SetDeadline(t time.Time) error      { return w.conn.SetDeadline(t) }
func (w *wsConn) SetReadDeadline(t time.Time) error  { return w.conn.SetReadDeadline(t) }
func (w *wsConn) SetWriteDeadline(t time.Time) error { return w.conn.SetWriteDeadline(t) }

// dialThroughProxy opens the TCP connection to the API server at host: directly, or through
// the HTTP(S) proxy the client's transport names for u (the kubeconfig's client clones
// http.DefaultTransport, whose Proxy is http.ProxyFromEnvironment: HTTPS_PROXY, HTTP_PROXY,
// NO_PROXY), with a CONNECT tunnel as net/http does for its own requests. So a port-forward
// takes the same way as every other request of the module, as client-go's does (k8s.io/client-go
// v0.35.3 transport/websocket/roundtripper.go: the dialer's Proxy is the config's Proxy, else
// ProxyFromEnvironment). Only http and https proxies: any other scheme is refused by name.
func (c *Client) dialThroughProxy(ctx context.Context, u *url.URL, host string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second}
	var proxy *url.URL
	if t, ok := c.HTTP.Transport.(*http.Transport); ok && t.Proxy != nil {
		p, err := t.Proxy(&http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}})
		if err != nil {
			return nil, fmt.Errorf("proxy for %s: %w", u.Host, err)
		}
		proxy = p
	}
	if proxy == nil {
		return d.DialContext(ctx, "tcp", host)
	}
	name := proxy.Redacted()
	paddr := proxy.Host
	if proxy.Port() == "" {
		paddr = net.JoinHostPort(proxy.Hostname(), map[string]string{"http": "80", "https": "443"}[proxy.Scheme])
	}
	var conn net.Conn
	var err error
	switch proxy.Scheme {
	case "http":
		conn, err = d.DialContext(ctx, "tcp", paddr)
	case "https":
		td := tls.Dialer{NetDialer: d, Config: &tls.Config{MinVersion: tls.VersionTLS12, ServerName: proxy.Hostname()}}
		conn, err = td.DialContext(ctx, "tcp", paddr)
	default:
		return nil, fmt.Errorf("proxy %s: scheme %q is not supported for port-forward (http or https)", name, proxy.Scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", name, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	req := "CONNECT " + host + " HTTP/1.1\r\nHost: " + host + "\r\n"
	if proxy.User != nil {
		pw, _ := proxy.User.Password()
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(proxy.User.Username()+":"+pw)) + "\r\n"
	}
	br := bufio.NewReader(conn)
	var resp *http.Response
	if _, err = io.WriteString(conn, req+"\r\n"); err == nil {
		resp, err = http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("proxy %s: CONNECT %s: %w", name, host, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, fmt.Errorf("proxy %s: CONNECT %s: %s", name, host, resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	if br.Buffered() > 0 { // the server spoke first: keep what the reader took
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

// bufferedConn is a connection whose first bytes were read into r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
