// Package bench measures otpguard against the middleware people would
// otherwise put in the same place: github.com/go-chi/httprate,
// github.com/throttled/throttled/v2, github.com/gorilla/csrf,
// github.com/alexedwards/scs/v2, github.com/golang-jwt/jwt/v5 (HS256) and
// github.com/go-chi/jwtauth/v5; and against its floor, the least code that
// does the guard's checks (BenchmarkFloor). It is a module of its own, so
// that the library's go.mod never gains them as dependencies; a replace
// directive builds it against the working tree.
//
// The package holds only benchmarks and their tests; the results and the
// machine they were taken on are in BENCHMARKS.md at the repository root.
//
//	cd bench
//	go test -run x -bench Paired                      # the ratios, paired (BENCHMARKS.md)
//	go test -run x -bench . -benchmem                 # every benchmark, one run
//	go test -run x -bench . -benchmem -count 5 | tee new.txt
//	go run ./cmd/loadtest -duration 10s -store memory # the HTTP load test
//
// The Redis benchmarks use the Redis at OTPGUARD_REDIS_ADDR (default
// 127.0.0.1:6379) and are skipped when it is unreachable, unless
// OTPGUARD_REDIS_REQUIRED=1 makes that a failure.
package bench
