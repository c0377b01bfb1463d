package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limits of the servers a test starts.
const (
	// serverStartTimeout bounds the wait for a started server to answer
	// PING, and for a replica's link to its master to come up.
	serverStartTimeout = 10 * time.Second
	// serverStartTries is the number of ports tried: another process may
	// take the free port between its discovery and the server's bind.
	serverStartTries = 3
)

// Server is a redis-server process that a test started on a loopback port
// of its own (see StartServer). Its methods may be called from several
// goroutines, but not after the test has ended.
type Server struct {
	tb   testing.TB
	addr string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  string        // the server's log file
}

// StartServer starts redis-server on a free port of 127.0.0.1, with
// --save "" --appendonly no (nothing is written to disk but its log),
// --repl-diskless-sync-delay 0 (a replica syncs at once, not after 5 s), its
// working directory in tb.TempDir(), and args appended (for example
// "--maxmemory-policy", "allkeys-lru"). It returns once the server answers
// PING, and kills it when tb ends. When redis-server is not installed, tb
// is skipped, or failed when OTPGUARD_REDIS_REQUIRED=1; a server that does
// not start fails tb, with the end of its log.
func StartServer(tb testing.TB, args ...string) *Server {
	tb.Helper()
	return startServer(tb, nil, args)
}

// StartReplica starts a server (as StartServer does) that replicates
// master, and returns once the replica reports master_link_status:up, the
// master lists it as online, and it has acknowledged a write (a PUBLISH,
// which changes no key), so that a WAIT on the master counts it from the
// start. That takes up to a second: after a full sync the master streams
// nothing until the replica's first acknowledgement.
func StartReplica(tb testing.TB, master *Server) *Server {
	tb.Helper()
	host, port, _ := net.SplitHostPort(master.addr)
	r := StartServer(tb, "--replicaof", host, port)
	ctx, cancel := context.WithTimeout(context.Background(), serverStartTimeout)
	defer cancel()
	if err := r.waitReplicating(ctx, master); err != nil {
		tb.Fatalf("redistest: replica %s of %s: %v\n%s", r.addr, master.addr, err, r.logTail())
	}
	return r
}

// StartSentinel starts redis-server in Sentinel mode, monitoring master
// under masterName with quorum 1, down-after-milliseconds 500 and
// failover-timeout 2000, from a configuration file in tb.TempDir() that the
// Sentinel may rewrite. It returns once the Sentinel answers PING and knows
// the master; it is killed when tb ends.
func StartSentinel(tb testing.TB, masterName string, master *Server) *Server {
	tb.Helper()
	host, port, _ := net.SplitHostPort(master.addr)
	conf := func(dir, myPort string) []string {
		cfg := strings.Join([]string{
			"port " + myPort,
			"bind 127.0.0.1",
			"dir " + strconv.Quote(dir),
			fmt.Sprintf("sentinel monitor %s %s %s 1", masterName, host, port),
			fmt.Sprintf("sentinel down-after-milliseconds %s 500", masterName),
			fmt.Sprintf("sentinel failover-timeout %s 2000", masterName),
		}, "\n") + "\n"
		file := filepath.Join(dir, "sentinel.conf")
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			tb.Fatalf("redistest: write %s: %v", file, err)
		}
		return []string{file, "--sentinel"}
	}
	s := startServer(tb, conf, nil)
	ctx, cancel := context.WithTimeout(context.Background(), serverStartTimeout)
	defer cancel()
	c := s.client()
	defer c.Close()
	for {
		_, err := c.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName).StringSlice()
		if err == nil {
			return s
		}
		if ctx.Err() != nil || s.exited() {
			tb.Fatalf("redistest: sentinel %s does not know master %q: %v\n%s", s.addr, masterName, err, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Addr returns the server's address, 127.0.0.1:PORT.
func (s *Server) Addr() string { return s.addr }

// Pause stops the server's process (SIGSTOP): it keeps its connections
// but answers nothing until Resume.
func (s *Server) Pause() {
	s.tb.Helper()
	s.signal("-STOP")
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() {
	s.tb.Helper()
	s.signal("-CONT")
}

// Kill kills the server (SIGKILL, so nothing is saved or handed over) and
// waits for it to exit. Killing a server again, or one that has exited, does
// nothing. Every server is killed when its test ends.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill() // fails only when it has already exited
	<-s.done
}

// signal sends sig to the server through kill(1), which keeps this package
// free of the platform-specific SIGSTOP and SIGCONT.
func (s *Server) signal(sig string) {
	s.tb.Helper()
	if out, err := exec.Command("kill", sig, strconv.Itoa(s.cmd.Process.Pid)).CombinedOutput(); err != nil {
		s.tb.Fatalf("redistest: kill %s %s (%s): %v: %s", sig, s.addr, s.cmd.Path, err, out)
	}
}

// startServer starts redis-server with the arguments that config returns
// for the working directory and port (or, when config is nil, the default
// ones) followed by args, retrying on another port when the server exits
// before answering (its port may have been taken meanwhile).
func startServer(tb testing.TB, config func(dir, port string) []string, args []string) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := fmt.Sprintf("redistest: redis-server is not installed: %v", err)
		if os.Getenv(RequiredEnv) == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	for try := 1; ; try++ {
		dir := tb.TempDir()
		port, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: find a free port: %v", err)
		}
		var argv []string
		if config != nil {
			argv = config(dir, port)
		} else {
			argv = []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir,
				"--repl-diskless-sync-delay", "0"}
		}
		logFile := filepath.Join(dir, "redis.log")
		argv = append(append(argv, "--logfile", logFile), args...)
		s := &Server{tb: tb, addr: net.JoinHostPort("127.0.0.1", port), log: logFile, done: make(chan struct{})}
		s.cmd = exec.Command(bin, argv...)
		s.cmd.Dir = dir
		var out lockedBuffer // what the server writes before it opens its log
		s.cmd.Stdout, s.cmd.Stderr = &out, &out
		if err := s.cmd.Start(); err != nil {
			tb.Fatalf("redistest: start %s: %v", bin, err)
		}
		go func() {
			_ = s.cmd.Wait()
			close(s.done)
		}()
		tb.Cleanup(func() {
			s.Kill()
			if tail := s.logTail(); tb.Failed() && tail != "" {
				tb.Logf("redistest: log of the server at %s:\n%s", s.addr, tail)
			}
		})
		err = s.waitPing()
		if err == nil {
			return s
		}
		s.Kill()
		msg := out.String() + s.logTail()
		if !strings.Contains(msg, "Address already in use") || try == serverStartTries {
			tb.Fatalf("redistest: %s %s: %v\n%s", bin, strings.Join(argv, " "), err, msg)
		}
	}
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}

// client returns a client of s that neither retries nor waits long; the
// caller closes it.
func (s *Server) client() *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: s.addr, ContextTimeoutEnabled: true, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
	})
}

// waitPing waits until s answers PING, it exits, or serverStartTimeout
// passes.
func (s *Server) waitPing() error {
	c := s.client()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), serverStartTimeout)
	defer cancel()
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		if s.exited() {
			return errors.New("exited")
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no answer to PING within %v: %w", serverStartTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitReplicating waits until the replica s reports its link to master up,
// master lists s as an online replica, and s has acknowledged a write: after
// a full sync the master holds the stream back until the replica's first
// acknowledgement, which comes up to a second later, and a WAIT until then
// would time out.
func (s *Server) waitReplicating(ctx context.Context, master *Server) error {
	rc, mc := s.client(), master.client()
	defer rc.Close()
	defer mc.Close()
	_, port, _ := net.SplitHostPort(s.addr)
	for {
		ri, err := rc.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(ri, "master_link_status:up") {
			mi, merr := mc.Info(ctx, "replication").Result()
			if merr == nil && strings.Contains(mi, ",port="+port+",state=online") {
				return waitAck(ctx, master)
			}
			err = merr
		}
		if ctx.Err() != nil || s.exited() {
			return fmt.Errorf("not replicating (last error %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitAck sends master a write that changes no key (PUBLISH, which is
// replicated) and waits, on the same connection, until its replicas have
// all acknowledged it.
func waitAck(ctx context.Context, master *Server) error {
	c := redis.NewClient(&redis.Options{Addr: master.addr, ContextTimeoutEnabled: true, MaxRetries: -1, ReadTimeout: -1})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	want := strings.Count(info, ",state=online")
	var wait *redis.IntCmd
	_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Publish(ctx, "redistest:replication-check", "1")
		wait = redis.NewIntCmd(ctx, "wait", want, serverStartTimeout.Milliseconds())
		return p.Process(ctx, wait)
	})
	if err != nil {
		return fmt.Errorf("WAIT for the first acknowledgement: %w", err)
	}
	if got := wait.Val(); got < int64(want) {
		return fmt.Errorf("WAIT for the first acknowledgement: %d of %d replicas", got, want)
	}
	return nil
}

// exited reports whether the server's process has exited.
func (s *Server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// logTail returns the last lines of the server's log, or "" when there is
// none.
func (s *Server) logTail() string {
	if s.log == "" {
		return ""
	}
	b, err := os.ReadFile(s.log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// lockedBuffer is a bytes.Buffer that the process's output copier and the
// test may use at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}
