package middleware

import "context"

type ctxKey uint8

const (
	integrationKey ctxKey = iota
)

// WithIntegration returns a copy of ctx that carries the calling
// integration's ID. The API-key middleware sets it; hosts with their own
// authentication may set it themselves.
func WithIntegration(ctx context.Context, integration string) context.Context {
	return context.WithValue(ctx, integrationKey, integration)
}

// IntegrationFrom returns the integration ID carried by ctx.
func IntegrationFrom(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(integrationKey).(string)
	return id, ok && id != ""
}
