package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpguard/otpguard/store"
	"github.com/otpguard/otpguard/store/redisstore"
)

// Example_newStore builds a store on a Redis client. The client must honour
// context deadlines (ContextTimeoutEnabled) so that the operation timeout
// holds; the store never closes the client.
func Example_newStore() {
	client := redis.NewClient(&redis.Options{
		Addr:                  "127.0.0.1:6379",
		ContextTimeoutEnabled: true,
	})
	defer client.Close()

	st, err := redisstore.New(client,
		redisstore.WithPrefix("loyalty:otp:"),
		redisstore.WithTimeout(300*time.Millisecond),
	)
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	token := "a-session-token-from-crypto-rand"
	// otpcode seals a real session (store.Seal) and the guard checks the
	// seal (store.Sealed); the store keeps the MAC as it is.
	sess := store.Session{Integration: "goomer", CustomerID: "c-1"}
	if err := st.CreateSession(ctx, store.HashToken(token), sess, 30*time.Minute); err != nil {
		log.Fatal(err) // Redis is down: refuse (fail closed)
	}
	got, found, err := st.GetSession(ctx, store.HashToken(token))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(found, got.CustomerID)
}

// Example_durability builds a store for a master with replicas behind
// Sentinel: the writes that enforce limits wait for one replica, and the
// start-up refuses a Redis that may evict keys, and warns when it cannot
// tell.
func Example_durability() {
	client := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:            "otpguard",
		SentinelAddrs:         []string{"10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"},
		ContextTimeoutEnabled: true,
	})
	defer client.Close()

	st, err := redisstore.New(client, redisstore.WithMinReplicas(1))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	switch err := st.CheckDurability(ctx); {
	case errors.Is(err, redisstore.ErrEviction):
		log.Fatal(err) // the error says which server and how to fix it
	case errors.Is(err, redisstore.ErrConfigUnavailable):
		log.Printf("warning: %v; make sure maxmemory-policy is noeviction", err)
	case err != nil:
		log.Fatal(err) // Redis unreachable
	}
	// Serve. A call whose write no replica acknowledged in time returns an
	// error wrapping redisstore.ErrReplicas, and the request is refused.
}
