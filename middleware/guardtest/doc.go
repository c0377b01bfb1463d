// Package guardtest helps host applications test their guarded routes
// without running the request-otp / verify-otp code flow: it issues valid
// OTP sessions straight into a store, builds requests that carry them, and
// checks a whole action matrix (partners × routes) against the host's
// handler, with the expectations computed from the policies themselves.
//
// # How to test your guarded routes
//
//  1. Build your handler as in production, but give it a memory store you
//     keep (store/memory), so sessions can be issued into the store the
//     guard reads, and keep the keyring its guard verifies sessions with
//     (middleware.WithSessionKeys): the sessions are sealed with it.
//  2. List your partners (name, integration ID, API key) and your routes
//     (method, target with a real customer ID filled in, body, the action
//     the route is guarded with, and the customer the target acts on).
//  3. Call AssertMatrix with the same policy source the guard uses. For
//     every partner and route it sends the request without a session and
//     expects the 403 otp-required problem exactly where the partner's
//     policy requires OTP for the action, and a pass (neither 401 nor 403)
//     elsewhere; then it issues a session for the partner's integration and
//     the route's customer and expects a pass. With Matrix.OtherCustomerID
//     set it also checks that a session of another customer is refused.
//  4. A route that was left unguarded, is guarded with the wrong action or
//     the wrong customer source, or refuses for another reason shows up
//     as a failing subtest "partner/route/check" with the status, the
//     expectation, the policy decision and the response body.
//
// Routes are called in a fixed order, each several times; routes that
// change state must stay safe to repeat (a second redemption may answer
// 422, which still passes), or set Matrix.Reset to restore fixtures before
// each request. For single requests, IssueSession (or MustIssue) and
// NewRequest with WithAPIKey and WithSession do the same by hand;
// IsOTPRequired recognises the otp-required problem among other 403s.
package guardtest
