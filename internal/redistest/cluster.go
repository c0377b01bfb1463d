package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

const (
	// ClusterAddrsEnv names the variable that holds the test Redis
	// Cluster's seed addresses, separated by commas (HOST:PORT,HOST:PORT).
	// CI sets it to the three masters that .ci/run starts; "bash .ci/run
	// cluster" starts them alone and prints the variable.
	ClusterAddrsEnv = "OTPGUARD_REDIS_CLUSTER_ADDRS"
	// ClusterRequiredEnv names the variable that, set to "1", makes a
	// missing or unreachable test cluster fail the tests instead of
	// skipping them.
	ClusterRequiredEnv = "OTPGUARD_REDIS_CLUSTER_REQUIRED"
)

// ClusterAddrs returns the test cluster's seed addresses from
// OTPGUARD_REDIS_CLUSTER_ADDRS, split at commas with blanks trimmed and
// empty parts dropped; nil when it is unset or empty. It reads the
// variable on every call.
func ClusterAddrs() []string {
	var addrs []string
	for _, a := range strings.Split(os.Getenv(ClusterAddrsEnv), ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// RequireCluster skips tb when no test cluster is configured
// (OTPGUARD_REDIS_CLUSTER_ADDRS unset) or when it cannot be reached or is
// not serving every slot, or fails it in both cases when
// OTPGUARD_REDIS_CLUSTER_REQUIRED=1. The cluster is probed once per process
// (every master pinged and its cluster_state checked, within one second);
// later calls reuse the result. It returns the seed addresses.
func RequireCluster(tb testing.TB) []string {
	tb.Helper()
	addrs := ClusterAddrs()
	requireCluster(tb, addrs)
	return addrs
}

// requireCluster is RequireCluster for addrs.
func requireCluster(tb testing.TB, addrs []string) {
	tb.Helper()
	var msg string
	if len(addrs) == 0 {
		msg = fmt.Sprintf("no Redis Cluster: set %s to its addresses (bash .ci/run cluster starts one)", ClusterAddrsEnv)
	} else if err := probeCluster(addrs); err != nil {
		msg = fmt.Sprintf("Redis Cluster at %s is unusable (set %s to use another): %v", strings.Join(addrs, ","), ClusterAddrsEnv, err)
	} else {
		return
	}
	if os.Getenv(ClusterRequiredEnv) == "1" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// probeCluster checks addrs once per process, with a short timeout and no
// retries: every master must answer and report cluster_state:ok. It returns
// that check's error on every call.
func probeCluster(addrs []string) error {
	f, _ := probes.LoadOrStore("cluster "+strings.Join(addrs, ","), sync.OnceValue(func() error {
		c := redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:                 addrs,
			ContextTimeoutEnabled: true,
			MaxRetries:            -1,
			DialTimeout:           probeTimeout,
		})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		return c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			info, err := node.ClusterInfo(ctx).Result()
			if err != nil {
				return fmt.Errorf("node %s: %w", node.Options().Addr, err)
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return errors.New("node " + node.Options().Addr + ": cluster_state is not ok")
			}
			return nil
		})
	}))
	return f.(func() error)()
}

// ClusterClient returns a client of the test cluster, closed when tb ends.
// It calls RequireCluster first, so tb is skipped, or failed, when no
// cluster is usable. Like Client's, the client has ContextTimeoutEnabled,
// so that context deadlines bound every command. Give it to Prefix to have
// the test's keys deleted from every master when tb ends.
func ClusterClient(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	addrs := RequireCluster(tb)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}
