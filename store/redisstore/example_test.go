package redisstore_test

import (
	"context"
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
	sess := store.Session{Integration: "goomer", CustomerID: "c-1", Subject: "phone:+5511987654321"}
	if err := st.CreateSession(ctx, store.HashToken(token), sess, 30*time.Minute); err != nil {
		log.Fatal(err) // Redis is down: refuse (fail closed)
	}
	got, found, err := st.GetSession(ctx, store.HashToken(token))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(found, got.CustomerID)
}
