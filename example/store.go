package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/redisstore"
)

// pingTimeout bounds each Redis check at start (the ping, connection
// included, and the durability check).
const pingTimeout = 3 * time.Second

// envRedisPassword names the variable that holds the Redis password, read
// only from the environment so that it does not show in the process list.
const envRedisPassword = "REDIS_PASSWORD"

// storeFlags choose where codes, sessions and counters are kept.
type storeFlags struct {
	kind        string // "memory" or "redis"
	addr        string // one address; several (commas) are a Cluster's, or with master the Sentinels'
	url         string // instead of addr
	master      string // the master the Sentinels at addr monitor
	prefix      string
	timeout     time.Duration
	minReplicas int
	// isSet reports whether a flag was given on the command line; nil
	// means none was.
	isSet func(name string) bool
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kind, "store", "memory", "where codes, sessions and counters are kept: memory or redis")
	fs.StringVar(&f.addr, "redis-addr", "127.0.0.1:6379", "Redis address (HOST:PORT), with -store redis; a comma list of several is the seed nodes of a Redis Cluster, or with -redis-master the Sentinels")
	fs.StringVar(&f.url, "redis-url", "", "Redis URL, with -store redis, instead of -redis-addr: redis://[USER@]HOST:PORT[/DB], rediss:// for TLS, ?addr=HOST:PORT&addr=... for a Redis Cluster's other seed nodes. The password is best left to REDIS_PASSWORD: in the URL it shows in the process list. Default none: -redis-addr is used")
	fs.StringVar(&f.master, "redis-master", "", "name of the master that the Sentinels of -redis-addr monitor, with -store redis; the server follows it across failovers. Default none: no Sentinels")
	fs.StringVar(&f.prefix, "redis-prefix", redisstore.DefaultPrefix, "prefix of every Redis key, with -store redis")
	fs.DurationVar(&f.timeout, "redis-timeout", redisstore.DefaultTimeout, "bound on every Redis call, with -store redis; past it a guarded request fails closed with 503")
	fs.IntVar(&f.minReplicas, "redis-min-replicas", 0, "replicas that must acknowledge every write that enforces a limit or a single use (WAIT), with -store redis; a request whose write they do not acknowledge within -redis-timeout fails closed with 503. Default 0: no waiting")
	f.isSet = func(name string) bool {
		set := false
		fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
		return set
	}
}

// openedStore is the store that openStore opened.
type openedStore struct {
	// store is nil for the memory store, which is left to loyalty.New.
	store store.Store
	// client is the Redis client of the store, nil for the memory store.
	// It stays open until close.
	client redis.UniversalClient
	// info describes the store for the banner; it holds no password.
	info string
	// warnings are lines to show at start, each without a trailing
	// newline.
	warnings []string
	// close releases the store.
	close func()
}

// openStore returns the store the flags name (getenv supplies
// REDIS_PASSWORD). The memory store is left to loyalty.New (a nil store).
// A Redis store gets its own client, one redis.UniversalClient for a single
// Redis, a Cluster or a master behind Sentinels, which is pinged once and
// whose eviction policy is checked (each within ctx and pingTimeout), so
// that a wrong address, or a Redis that may evict keys, is an error at start
// rather than 503s or forgotten codes later. A Redis whose configuration
// cannot be read (CONFIG disabled, as on many managed services) gives a
// warning instead.
func openStore(ctx context.Context, f storeFlags, getenv func(string) string) (openedStore, error) {
	switch f.kind {
	case "memory":
		return openedStore{info: "memory (lost when the server stops)", close: func() {}}, nil
	case "redis":
	default:
		return openedStore{}, fmt.Errorf("-store %q: want memory or redis", f.kind)
	}
	if f.timeout <= 0 {
		return openedStore{}, fmt.Errorf("-redis-timeout %v: must be positive", f.timeout)
	}
	if f.minReplicas < 0 {
		return openedStore{}, fmt.Errorf("-redis-min-replicas %d: must not be negative", f.minReplicas)
	}
	client, where, err := newRedisClient(f, getenv(envRedisPassword))
	if err != nil {
		return openedStore{}, err
	}
	fail := func(err error) (openedStore, error) {
		_ = client.Close()
		return openedStore{}, err
	}
	st, err := redisstore.New(client,
		redisstore.WithPrefix(f.prefix),
		redisstore.WithTimeout(f.timeout),
		redisstore.WithMinReplicas(f.minReplicas))
	if err != nil {
		return fail(fmt.Errorf("redis store: %w", err))
	}

	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		return fail(fmt.Errorf("%s is unreachable (check -redis-addr or -redis-url, or use -store memory): %w", where, err))
	}
	var warnings []string
	checkCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	switch err := st.CheckDurability(checkCtx); {
	case err == nil:
	case errors.Is(err, redisstore.ErrEviction):
		return fail(fmt.Errorf("%s may evict keys; refusing to start: %w", where, err))
	case errors.Is(err, redisstore.ErrConfigUnavailable):
		warnings = append(warnings, fmt.Sprintf("warning: cannot check the maxmemory-policy of %s: make sure it is noeviction, or Redis may evict locks, counters and sessions under memory pressure (%v)", where, err))
	default:
		return fail(fmt.Errorf("%s: checking its durability: %w", where, err))
	}

	info := fmt.Sprintf("%s, key prefix %q, timeout %v", where, f.prefix, f.timeout)
	if f.minReplicas > 0 {
		info += fmt.Sprintf(", each write acknowledged by %d replica(s)", f.minReplicas)
	}
	return openedStore{store: st, client: client, info: info, warnings: warnings, close: func() { _ = client.Close() }}, nil
}

// newRedisClient returns the client the flags describe, with
// ContextTimeoutEnabled (redisstore bounds every call by a context
// deadline, which go-redis honours only with it), and a description of
// where it connects, without the password. go-redis parses the URL and
// picks the kind of client from the addresses (redis.NewUniversalClient).
func newRedisClient(f storeFlags, password string) (redis.UniversalClient, string, error) {
	if f.url != "" {
		switch {
		case f.master != "":
			return nil, "", errors.New("-redis-master takes the Sentinels from -redis-addr, not -redis-url")
		case f.isSet != nil && f.isSet("redis-addr"):
			return nil, "", errors.New("-redis-url and -redis-addr both name Redis: give one")
		}
		return clientFromURL(f.url, password)
	}
	var addrs []string
	for _, a := range strings.Split(f.addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return nil, "", errors.New("-redis-addr is empty")
	}
	opts := &redis.UniversalOptions{
		Addrs:                 addrs,
		MasterName:            f.master,
		Password:              password,
		ContextTimeoutEnabled: true,
	}
	list := strings.Join(addrs, ",")
	where := "redis at " + list
	switch {
	case f.master != "":
		where = fmt.Sprintf("redis master %q via the sentinels at %s", f.master, list)
	case len(addrs) > 1:
		where = "redis cluster at " + list
	}
	return redis.NewUniversalClient(opts), where, nil
}

// clientFromURL returns a client of the Redis, or the Redis Cluster (when
// the URL has addr parameters), that raw names, with password unless the
// URL has one. No error holds raw, which may hold a password.
func clientFromURL(raw, password string) (redis.UniversalClient, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return nil, "", fmt.Errorf("-redis-url: %w", err)
	}
	conflict := func(inURL string) error {
		if inURL != "" && password != "" {
			return fmt.Errorf("-redis-url has a password and so does %s: give one", envRedisPassword)
		}
		return nil
	}
	tlsNote := func(tls bool) string {
		if tls {
			return " (TLS)"
		}
		return ""
	}
	if u.Query().Has("addr") {
		o, err := redis.ParseClusterURL(raw)
		if err != nil {
			return nil, "", fmt.Errorf("-redis-url: %w", err)
		}
		if err := conflict(o.Password); err != nil {
			return nil, "", err
		}
		if password != "" {
			o.Password = password
		}
		o.ContextTimeoutEnabled = true
		return redis.NewClusterClient(o), "redis cluster at " + strings.Join(o.Addrs, ",") + tlsNote(o.TLSConfig != nil), nil
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, "", fmt.Errorf("-redis-url: %w", err)
	}
	if err := conflict(o.Password); err != nil {
		return nil, "", err
	}
	if password != "" {
		o.Password = password
	}
	o.ContextTimeoutEnabled = true
	return redis.NewClient(o), "redis at " + o.Addr + tlsNote(o.TLSConfig != nil), nil
}
