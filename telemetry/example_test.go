package telemetry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otpguard/otpguard/keyring"
	"github.com/otpguard/otpguard/middleware"
	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/store/memory"
	"github.com/otpguard/otpguard/telemetry"
)

// One Telemetry serves the OTP service and the guard. Here the meter
// provider is the SDK's with a manual reader, where a host would register
// its exporter (Prometheus, OTLP), and the event hook prints each event;
// two wrong codes lock the customer for the integration.
func ExampleNew() {
	reader := sdkmetric.NewManualReader()
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tel, err := telemetry.New(
		telemetry.WithMeterProvider(meters),
		telemetry.WithEvents(func(_ context.Context, e telemetry.Event) {
			fmt.Println("event:", e.Kind, e.Integration, e.Scope, len(e.Customer) == 22)
		}),
	)
	if err != nil {
		log.Fatal(err)
	}

	keys, _ := keyring.New(bytes.Repeat([]byte{1}, 32))
	var code string
	chain, _ := otpcode.NewChain(otpcode.Route{Channel: otpcode.ChannelWhatsApp,
		Sender: otpcode.SenderFunc(func(_ context.Context, m otpcode.Message) error { code = m.Code; return nil })})
	limits := otpcode.DefaultLimits()
	limits.LockAfter = 2
	st := memory.New()
	defer st.Close()
	svc, err := otpcode.NewService(st, keys, chain, otpcode.WithLimits(limits), otpcode.WithTelemetry(tel))
	if err != nil {
		log.Fatal(err)
	}
	// The guard's settings report to the same place.
	if _, err := middleware.NewHTTP(middleware.WithTelemetry(tel)); err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	const phone = "+5511987654321"
	if _, err := svc.Request(ctx, otpcode.RequestInput{Integration: "goomer", Identifier: phone}); err != nil {
		log.Fatal(err)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	for range 2 {
		_, err := svc.Verify(ctx, otpcode.VerifyInput{Integration: "goomer", Identifier: phone, Code: wrong})
		fmt.Println("verify:", errors.Is(err, otpcode.ErrInvalidCode), errors.Is(err, otpcode.ErrLocked), otpcode.CustomerRef(err) != "")
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
			for _, dp := range sum.DataPoints {
				fmt.Println("metric:", m.Name, dp.Attributes.Encoded(attribute.DefaultEncoder()), dp.Value)
			}
		}
	}
	// Unordered output:
	// verify: true false true
	// event: otp.locked goomer integration-customer true
	// verify: false true true
	// metric: otpguard_codes_sent channel=whatsapp,outcome=sent 1
	// metric: otpguard_verifications outcome=wrong_code 2
	// metric: otpguard_locks scope=integration-customer 1
	// metric: otpguard_rate_limit_refusals limit=pair_lock 1
}
