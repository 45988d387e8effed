package rpc

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// pingCounter counts the HTTP/2 PING frames (not acks) in the bytes read
// from one side of a connection.
type pingCounter struct {
	mu    sync.Mutex
	skip  int // bytes of the client preface still to skip (server side)
	buf   []byte
	pings int
}

func (p *pingCounter) feed(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	if p.skip > 0 {
		n := min(p.skip, len(p.buf))
		p.buf, p.skip = p.buf[n:], p.skip-n
	}
	for len(p.buf) >= 9 {
		length := int(p.buf[0])<<16 | int(p.buf[1])<<8 | int(p.buf[2])
		if len(p.buf) < 9+length {
			return
		}
		if typ, flags := p.buf[3], p.buf[4]; typ == 0x6 && flags&0x1 == 0 {
			p.pings++
		}
		p.buf = p.buf[9+length:]
	}
}

func (p *pingCounter) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pings
}

type countingConn struct {
	net.Conn
	c *pingCounter
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.c.feed(b[:n])
	return n, err
}

type countingListener struct {
	net.Listener
	c *pingCounter
}

func (l countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: conn, c: l.c}, nil
}

type beatServer struct{ UnimplementedGridMasterServer }

func (beatServer) Heartbeat(context.Context, *HeartbeatRequest) (*HeartbeatResponse, error) {
	return &HeartbeatResponse{Acknowledged: true}, nil
}

// pingsDuringBeats makes 20 heartbeat calls one after the other and returns
// the PINGs the server received and the client received.
func pingsDuringBeats(t *testing.T, srvOpts []grpc.ServerOption, dialOpts []grpc.DialOption) (toServer, toClient int) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	atServer := &pingCounter{skip: len("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")}
	srv := grpc.NewServer(srvOpts...)
	RegisterGridMasterServer(srv, beatServer{})
	go func() { _ = srv.Serve(countingListener{Listener: lis, c: atServer}) }()
	defer srv.Stop()
	atClient := &pingCounter{}
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: conn, c: atClient}, nil
	}
	conn, err := grpc.NewClient(lis.Addr().String(), append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(dialer)}, dialOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := NewGridMasterClient(conn)
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.Heartbeat(ctx, &HeartbeatRequest{AgentId: "a1"})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	return atServer.count(), atClient.count()
}

// TestStaticWindowsSendNoPings: with WindowServerOptions and
// WindowDialOptions a heartbeat costs no PING frames either way; gRPC's
// default dynamic windows ping on the calls of a quiet connection (what
// the static windows are for).
func TestStaticWindowsSendNoPings(t *testing.T) {
	toServer, toClient := pingsDuringBeats(t, WindowServerOptions(), WindowDialOptions())
	if toServer != 0 || toClient != 0 {
		t.Fatalf("static windows: %d PINGs to the server, %d to the client; want none", toServer, toClient)
	}
	toServer, toClient = pingsDuringBeats(t, nil, nil)
	if toServer == 0 || toClient == 0 {
		t.Fatalf("default windows: %d PINGs to the server, %d to the client; want some each way (else this test proves nothing)", toServer, toClient)
	}
}
