package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/otpguard/otpguard/example/loyalty"
	"github.com/otpguard/otpguard/otpcode/email"
	"github.com/otpguard/otpguard/otpcode/whatsapp"
)

// The environment variables of the real senders. The two secrets,
// WHATSAPP_TOKEN and SMTP_PASSWORD, have no flag: a flag's value shows in
// the process list.
const (
	envWhatsAppToken   = "WHATSAPP_TOKEN"
	envWhatsAppPhoneID = "WHATSAPP_PHONE_NUMBER_ID"
	envWhatsAppBaseURL = "WHATSAPP_BASE_URL"
	envWhatsAppTmpl    = "WHATSAPP_TEMPLATE"
	envSMTPHost        = "SMTP_HOST"
	envSMTPPort        = "SMTP_PORT"
	envSMTPUser        = "SMTP_USER"
	envSMTPPassword    = "SMTP_PASSWORD"
	envSMTPFrom        = "SMTP_FROM"
	envSMTPTLS         = "SMTP_TLS"
)

// senderTimeout bounds one delivery attempt per channel, so that WhatsApp
// and then email together fit in the server's write timeout.
const senderTimeout = 5 * time.Second

// senderFlags are the command-line settings of the real senders; each one
// that is set overrides its environment variable.
type senderFlags struct {
	waPhoneID, waBaseURL, waTemplate string
	smtpHost                         string
	smtpPort                         int
	smtpUser, smtpFrom, smtpTLS      string
}

func (f *senderFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.waPhoneID, "whatsapp-phone-number-id", "", "WhatsApp Cloud API phone number ID (or "+envWhatsAppPhoneID+"); with "+envWhatsAppToken+" (environment only) enables the WhatsApp sender")
	fs.StringVar(&f.waBaseURL, "whatsapp-base-url", "", "WhatsApp Cloud API base URL (or "+envWhatsAppBaseURL+"); default "+whatsapp.DefaultBaseURL)
	fs.StringVar(&f.waTemplate, "whatsapp-template", "", "WhatsApp authentication template name (or "+envWhatsAppTmpl+"); default "+whatsapp.DefaultTemplate)
	fs.StringVar(&f.smtpHost, "smtp-host", "", "SMTP server host (or "+envSMTPHost+"); enables the email sender")
	fs.IntVar(&f.smtpPort, "smtp-port", 0, "SMTP server port (or "+envSMTPPort+"); default 587, 465 with -smtp-tls implicit, 25 with none")
	fs.StringVar(&f.smtpUser, "smtp-user", "", "SMTP user name (or "+envSMTPUser+"); the password is read only from "+envSMTPPassword)
	fs.StringVar(&f.smtpFrom, "smtp-from", "", "sender address of the code emails (or "+envSMTPFrom+")")
	fs.StringVar(&f.smtpTLS, "smtp-tls", "", "SMTP encryption (or "+envSMTPTLS+"): mandatory (STARTTLS, the default), opportunistic, none or implicit")
}

// buildSenders returns the senders that the flags and the environment
// (read with getenv) configure, and one line per channel for the banner. A
// channel with no setting at all keeps the development sender (a nil
// sender). A channel configured in part is an error naming what is missing,
// rather than a silent fall-back to printing codes. No error or line
// contains the token or the password.
func buildSenders(f senderFlags, getenv func(string) string) (loyalty.Senders, []string, error) {
	var s loyalty.Senders
	wa, waInfo, err := whatsAppSender(f, getenv)
	if err != nil {
		return s, nil, err
	}
	em, emInfo, err := emailSender(f, getenv)
	if err != nil {
		return s, nil, err
	}
	if wa != nil {
		s.WhatsApp = wa
	}
	if em != nil {
		s.Email = em
	}
	// The development sender serves only a server with no real sender at
	// all; next to a real one, a channel without its own real sender is
	// off, so that no live code is ever printed (see loyalty.Senders).
	switch {
	case wa == nil && em != nil:
		waInfo = offInfo
	case em == nil && wa != nil:
		emInfo = offInfo
	}
	return s, []string{"whatsapp: " + waInfo, "email: " + emInfo}, nil
}

const offInfo = "off (not configured, and another channel has a real sender: the development sender is used only when none has)"

// setting returns the flag's value when set, else the variable's.
func setting(flagValue, env string, getenv func(string) string) string {
	if flagValue != "" {
		return strings.TrimSpace(flagValue)
	}
	return strings.TrimSpace(getenv(env))
}

const devInfo = "development sender (codes printed on stdout, because no real sender is configured)"

func whatsAppSender(f senderFlags, getenv func(string) string) (*whatsapp.Sender, string, error) {
	token := strings.TrimSpace(getenv(envWhatsAppToken))
	phoneID := setting(f.waPhoneID, envWhatsAppPhoneID, getenv)
	baseURL := setting(f.waBaseURL, envWhatsAppBaseURL, getenv)
	tmpl := setting(f.waTemplate, envWhatsAppTmpl, getenv)
	switch {
	case token == "" && phoneID == "" && baseURL == "" && tmpl == "":
		return nil, devInfo, nil
	case token == "":
		return nil, "", fmt.Errorf("whatsapp sender: %s is not set (it is read only from the environment)", envWhatsAppToken)
	case phoneID == "":
		return nil, "", fmt.Errorf("whatsapp sender: %s is set but %s (-whatsapp-phone-number-id) is not", envWhatsAppToken, envWhatsAppPhoneID)
	}
	opts := []whatsapp.Option{whatsapp.WithTimeout(senderTimeout)}
	info := "WhatsApp Cloud API, phone number ID " + phoneID
	if baseURL != "" {
		opts = append(opts, whatsapp.WithBaseURL(baseURL))
		info += ", base URL " + baseURL
	}
	if tmpl == "" {
		tmpl = whatsapp.DefaultTemplate
	}
	opts = append(opts, whatsapp.WithTemplate(tmpl))
	info += ", template " + tmpl
	s, err := whatsapp.New(whatsapp.Config{Token: token, PhoneNumberID: phoneID}, opts...)
	if err != nil {
		return nil, "", fmt.Errorf("whatsapp sender: %w", err)
	}
	return s, info, nil
}

func emailSender(f senderFlags, getenv func(string) string) (*email.Sender, string, error) {
	host := setting(f.smtpHost, envSMTPHost, getenv)
	user := setting(f.smtpUser, envSMTPUser, getenv)
	from := setting(f.smtpFrom, envSMTPFrom, getenv)
	mode := setting(f.smtpTLS, envSMTPTLS, getenv)
	password := getenv(envSMTPPassword)
	port := f.smtpPort
	portText := strings.TrimSpace(getenv(envSMTPPort))
	if port == 0 && portText != "" {
		p, err := strconv.Atoi(portText)
		if err != nil {
			return nil, "", fmt.Errorf("email sender: %s %q is not a port number", envSMTPPort, portText)
		}
		port = p
	}
	switch {
	case host == "" && port == 0 && user == "" && from == "" && mode == "" && password == "":
		return nil, devInfo, nil
	case host == "":
		return nil, "", fmt.Errorf("email sender: SMTP settings are set but %s (-smtp-host) is not", envSMTPHost)
	case from == "":
		return nil, "", fmt.Errorf("email sender: %s (-smtp-from) is not set", envSMTPFrom)
	case password != "" && user == "":
		return nil, "", fmt.Errorf("email sender: %s is set but %s (-smtp-user) is not", envSMTPPassword, envSMTPUser)
	case user != "" && password == "":
		return nil, "", fmt.Errorf("email sender: %s is set but %s is not (it is read only from the environment)", envSMTPUser, envSMTPPassword)
	}
	tlsMode := email.TLSMode(mode)
	if tlsMode == "" {
		tlsMode = email.TLSMandatory
	}
	s, err := email.New(email.Config{
		Host:     host,
		Port:     port,
		Username: user,
		Password: password,
		From:     from,
		TLS:      tlsMode,
	}, email.WithTimeout(senderTimeout))
	if err != nil {
		return nil, "", fmt.Errorf("email sender: %w", err)
	}
	info := "SMTP " + host
	if port != 0 {
		info += ":" + strconv.Itoa(port)
	}
	info += ", from " + from + ", TLS " + string(tlsMode)
	if user != "" {
		info += ", user " + user
	}
	return s, info, nil
}
