package email_test

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/otpguard/otpguard/otpcode"
	"github.com/otpguard/otpguard/otpcode/email"
)

// Configure an SMTP sender with STARTTLS and AUTH PLAIN, and use it as the
// fallback route of a delivery chain.
func ExampleNew() {
	mailer, err := email.New(email.Config{
		Host:     "smtp.example.com",
		Port:     587,
		Username: "otp@example.com",
		Password: os.Getenv("SMTP_PASSWORD"),
		From:     "no-reply@example.com",
		FromName: "Loja Exemplo",
		TLS:      email.TLSMandatory,
	}, email.WithTimeout(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	chain, err := otpcode.NewChain(
		// otpcode.Route{Channel: otpcode.ChannelWhatsApp, Sender: wa}, first
		otpcode.Route{Channel: otpcode.ChannelEmail, Sender: mailer},
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = chain
}

// Render shows what a customer receives, here with the built-in pt-BR
// templates.
func ExampleSender_Render() {
	s, err := email.New(email.Config{Host: "smtp.example.com", From: "no-reply@example.com"})
	if err != nil {
		log.Fatal(err)
	}
	c, err := s.Render(otpcode.Message{Code: "493817", TTL: 5 * time.Minute, Locale: "pt-BR", Name: "Ana"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Subject:", c.Subject)
	fmt.Print(c.Text)
	// Output:
	// Subject: Seu código de verificação
	// Olá, Ana!
	//
	// Seu código de verificação é: 493817
	//
	// Ele expira em 5 minutos.
	//
	// Não compartilhe este código com ninguém: nossa equipe nunca vai pedi-lo.
	// Se você não pediu este código, ignore este e-mail.
}

// WithTemplates adds a locale; templates receive a TemplateData.
func ExampleWithTemplates() {
	s, err := email.New(email.Config{Host: "smtp.example.com", From: "no-reply@example.com"},
		email.WithTemplates("es",
			`Tu código de verificación`,
			"Hola{{with .Name}} {{.}}{{end}}, tu código es {{.Code}} (vence en {{.Minutes}} minutos).\n",
			`<p>Hola{{with .Name}} {{.}}{{end}}, tu código es <b>{{.Code}}</b>.</p>`,
		))
	if err != nil {
		log.Fatal(err)
	}
	c, err := s.Render(otpcode.Message{Code: "493817", TTL: 90 * time.Second, Locale: "es-AR", Name: "Sofía <admin>"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Subject)
	fmt.Print(c.Text)
	fmt.Println(c.HTML)
	// Output:
	// Tu código de verificación
	// Hola Sofía <admin>, tu código es 493817 (vence en 2 minutos).
	// <p>Hola Sofía &lt;admin&gt;, tu código es <b>493817</b>.</p>
}
