package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrReplicas is wrapped by the error of a write that fewer replicas than
// WithMinReplicas asks for acknowledged within the operation timeout. The
// write may have been applied on the master, but its result is discarded:
// the caller refuses, as for any store error.
var ErrReplicas = errors.New("too few replicas acknowledged the write")

// ErrEviction is wrapped by the error of CheckDurability when a server's
// maxmemory-policy lets Redis evict keys.
var ErrEviction = errors.New("keys may be evicted")

// ErrConfigUnavailable is wrapped by the error of CheckDurability when a
// server does not let the client read its configuration (CONFIG renamed or
// disabled, as on many managed Redis services, or denied by an ACL). The
// check could not be made: a caller may log a warning and run.
var ErrConfigUnavailable = errors.New("cannot read the server's configuration")

// noEviction is the only maxmemory-policy under which Redis never deletes a
// key before its expiry.
const noEviction = "noeviction"

// evictionFix is what the error of CheckDurability tells the operator.
const evictionFix = "set maxmemory-policy noeviction: with any eviction policy Redis may drop locks, counters and sessions, handing out fresh guess budgets"

// CheckDurability checks that Redis keeps what the store writes until it
// expires: it reads maxmemory-policy (CONFIG GET) on the server, or on every
// master of a *redis.ClusterClient and every shard of a *redis.Ring, and
// returns an error wrapping ErrEviction, naming the server, the setting and
// its value and the fix, when one is not "noeviction". Under any other
// policy a Redis that reaches maxmemory deletes keys early, every key of
// this store being a candidate since each has an expiry: a lock or a
// failure count that is evicted hands out a fresh guess budget, an evicted
// use mark lets a single-use session be used again. (Under noeviction such
// a Redis refuses writes instead, and the store's callers fail closed.)
//
// When a server refuses CONFIG GET with an error reply (the command renamed
// or disabled, or not allowed to the client's user), it returns an error
// wrapping ErrConfigUnavailable: the caller cannot tell, and may log a
// warning and run. Any other failure (Redis unreachable, the operation
// timeout) is returned as it is. Errors of several servers are joined;
// errors.Is finds each kind, so test for ErrEviction first.
//
// It does not check persistence (see Durability in the package
// documentation) and reads nothing else. Call it at start-up, not per
// request.
func (s *Store) CheckDurability(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var (
		mu   sync.Mutex
		errs []error
	)
	check := func(ctx context.Context, c *redis.Client) error {
		if err := checkEviction(ctx, c, c.Options().Addr); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
		return nil
	}
	var err error
	switch c := s.client.(type) {
	case *redis.Client:
		err = check(ctx, c)
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, check)
	case *redis.Ring:
		err = c.ForEachShard(ctx, check)
	default:
		err = checkEviction(ctx, s.client, "the server")
	}
	if err != nil {
		return fmt.Errorf("redisstore: check durability: %w", err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("redisstore: check durability: %w", errors.Join(errs...))
	}
	return nil
}

// checkEviction reads the maxmemory-policy of the server c, called addr in
// errors.
func checkEviction(ctx context.Context, c redis.Cmdable, addr string) error {
	const param = "maxmemory-policy"
	cfg, err := c.ConfigGet(ctx, param).Result()
	if err != nil {
		if configRefused(err) {
			return fmt.Errorf("%w: %s: CONFIG GET %s: %w", ErrConfigUnavailable, addr, param, err)
		}
		return fmt.Errorf("%s: CONFIG GET %s: %w", addr, param, err)
	}
	policy, ok := cfg[param]
	switch {
	case !ok:
		return fmt.Errorf("%w: %s: CONFIG GET %s: no such setting reported", ErrConfigUnavailable, addr, param)
	case policy != noEviction:
		return fmt.Errorf("%w: %s has %s %s; %s", ErrEviction, addr, param, policy, evictionFix)
	}
	return nil
}

// configRefused reports whether err is the server's refusal of CONFIG
// ("ERR unknown command 'CONFIG'", "NOPERM ...", a managed service's own
// "ERR ... CONFIG ..."): an error reply that is not one of the transient
// ones a server gives while it loads, fails over or is busy.
func configRefused(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	transient := redis.IsLoadingError(err) || redis.IsMasterDownError(err) ||
		redis.IsClusterDownError(err) || redis.IsTryAgainError(err) ||
		redis.HasErrorPrefix(err, "BUSY")
	return !transient
}

// WAIT and the writes that use it.

// write runs sc on keys with args, as sc.Run does (EVALSHA, then EVAL when
// the server does not have the script), and, when the store waits for
// replicas (WithMinReplicas), follows it with WAIT on the same connection.
// When WAIT reports fewer replicas than required, or fails, the script's
// result is discarded and the returned Cmd holds an error wrapping
// ErrReplicas. A WAIT that follows an EVALSHA the server refused (NOSCRIPT)
// counts the connection's earlier writes: when it fails, so does write,
// without running the script.
func (s *Store) write(ctx context.Context, sc *redis.Script, keys []string, args ...any) *redis.Cmd {
	if s.minReplicas == 0 {
		return sc.Run(ctx, s.client, keys, args...)
	}
	node, err := s.node(ctx, keys[0])
	if err != nil {
		return errCmd(ctx, err)
	}
	var cmd *redis.Cmd
	eval := func(run func(context.Context, redis.Scripter, []string, ...any) *redis.Cmd) error {
		return s.waitPipeline(ctx, node, func(p redis.Pipeliner) {
			cmd = run(ctx, p, keys, args...)
		})
	}
	ackErr := eval(sc.EvalSha)
	if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		if ackErr != nil {
			// Nothing was written, and the replicas have not acknowledged
			// this connection's earlier writes: they would not
			// acknowledge this one either, and the wait took the time.
			return errCmd(ctx, ackErr)
		}
		ackErr = eval(sc.Eval) // EVAL caches the script for the next EVALSHA
	}
	if err := cmd.Err(); err != nil {
		s.noteMoved(ctx, err)
		return cmd
	}
	if ackErr != nil {
		return errCmd(ctx, ackErr)
	}
	return cmd
}

// node returns the client of the server that holds key, whose connection
// a write on key and its WAIT share: the store's *redis.Client itself, the
// master of key's slot on a *redis.ClusterClient, key's shard on a
// *redis.Ring (New allows WithMinReplicas with no other client).
func (s *Store) node(ctx context.Context, key string) (*redis.Client, error) {
	switch c := s.client.(type) {
	case *redis.Client:
		return c, nil
	case *redis.ClusterClient:
		return c.MasterForKey(ctx, key)
	case *redis.Ring:
		return c.GetShardClientForKey(key)
	}
	return nil, fmt.Errorf("WAIT needs a *redis.Client, *redis.ClusterClient or *redis.Ring, not %T", s.client)
}

// noteMoved asks a *redis.ClusterClient to reload its slot map when err
// says that a slot has moved: write sends to the master it knows, and does
// not follow redirections as the cluster client does.
func (s *Store) noteMoved(ctx context.Context, err error) {
	c, ok := s.client.(*redis.ClusterClient)
	if !ok {
		return
	}
	_, moved := redis.IsMovedError(err)
	_, ask := redis.IsAskError(err)
	if moved || ask {
		c.ReloadState(ctx)
	}
}

// waitPipeline sends fn's commands and then WAIT minReplicas in one
// pipeline on node, so that WAIT runs on the connection of the writes, and
// returns nil when enough replicas acknowledged them, else an error
// wrapping ErrReplicas. The caller checks its commands' errors first: when
// the connection failed, WAIT failed with them.
func (s *Store) waitPipeline(ctx context.Context, node *redis.Client, fn func(redis.Pipeliner)) error {
	timeout := waitTimeout(ctx, node)
	wait := redis.NewIntCmd(ctx, "wait", s.minReplicas, timeout.Milliseconds())
	_, _ = node.Pipelined(ctx, func(p redis.Pipeliner) error {
		fn(p)
		return p.Process(ctx, wait)
	})
	n, err := wait.Result()
	if err != nil {
		return fmt.Errorf("%w: WAIT: %w", ErrReplicas, err)
	}
	if n < int64(s.minReplicas) {
		return fmt.Errorf("%w: %d of %d within %v", ErrReplicas, n, s.minReplicas, timeout)
	}
	return nil
}

// waitTick is how late Redis may answer a WAIT that times out: it checks
// the timeouts of blocked clients once per tick of its cron, 1000/hz ms,
// 100 ms at the default hz of 10.
const waitTick = 100 * time.Millisecond

// waitTimeout returns the timeout of a WAIT sent under ctx on node: the
// time left until ctx's deadline, or node's read timeout when that is
// shorter (a pipeline's replies must all come within it), less a tenth for
// the reply to come back and less waitTick, so that a WAIT that times out
// is answered, and reports the replicas it got, before the client gives
// up. It is never below 1 ms (WAIT 0 would block forever); when less than
// that is left, the call may fail with the deadline rather than with
// ErrReplicas.
func waitTimeout(ctx context.Context, node *redis.Client) time.Duration {
	left := DefaultTimeout
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl)
	}
	if rt := node.Options().ReadTimeout; rt > 0 && rt < left {
		left = rt
	}
	left -= left/10 + waitTick
	return max(left.Truncate(time.Millisecond), time.Millisecond)
}

// errCmd returns a Cmd that failed with err.
func errCmd(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}

// needsNodes reports whether WithMinReplicas can find the server of a key
// on client.
func needsNodes(client redis.UniversalClient) error {
	switch client.(type) {
	case *redis.Client, *redis.ClusterClient, *redis.Ring:
		return nil
	}
	return fmt.Errorf("min replicas: WAIT needs a *redis.Client, *redis.ClusterClient or *redis.Ring, not %T", client)
}

// sharded reports whether client spreads keys over several servers, whose
// replication streams are independent of each other.
func sharded(client redis.UniversalClient) bool {
	_, single := client.(*redis.Client)
	return !single
}
