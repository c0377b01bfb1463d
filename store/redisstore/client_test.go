package redisstore_test

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"

	"github.com/otpguard/otpguard/store/redisstore"
)

// TestCheckClient: a nil client, a typed nil one and one that ignores
// context deadlines are refused, by CheckClient and by New; the rest pass.
// No server is needed: nothing is sent.
func TestCheckClient(t *testing.T) {
	var nilClient *redis.Client
	for name, tt := range map[string]struct {
		client redis.UniversalClient
		ok     bool
	}{
		"nil":                 {nil, false},
		"typed nil":           {nilClient, false},
		"no context timeouts": {redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), false},
		"cluster without":     {redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}}), false},
		"client":              {redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true}), true},
		"cluster":             {redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: true}), true},
		"ring":                {redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}, ContextTimeoutEnabled: true}), true},
	} {
		t.Run(name, func(t *testing.T) {
			err := redisstore.CheckClient(tt.client)
			_, newErr := redisstore.New(tt.client)
			if tt.ok {
				assert.NoError(t, err)
				assert.NoError(t, newErr)
			} else {
				assert.Error(t, err)
				assert.Error(t, newErr, "New with the client")
			}
		})
	}
}
