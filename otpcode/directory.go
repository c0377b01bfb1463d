package otpcode

import "context"

// Contacts are where a customer's codes can be delivered. Each Route's
// Contact function picks its channel's address from them.
type Contacts struct {
	// Phone is the customer's mobile number in E.164 form, or "": the
	// address of the phone channels (WhatsApp, SMS).
	Phone string
	// Email is an email address, or "".
	Email string
}

// Customer is what a Directory knows of a customer.
type Customer struct {
	// ID is the host's customer ID; sessions are bound to it.
	ID string
	// IsNew reports that Resolve created the customer.
	IsNew bool
	// Name is the customer's name, used to greet them in messages; may be "".
	Name string
	// Locale selects message templates ("pt-BR", "en"); "" for the default.
	Locale string
	// Contacts are the customer's known contacts.
	Contacts Contacts
	// Profile holds the extra fields a successful verification returns
	// (for example full_name, points_balance, tier).
	Profile map[string]any
}

// Directory is the host's customer directory. Implementations must be safe
// for concurrent use.
type Directory interface {
	// Lookup finds the customer an identifier names, at request time.
	// found is false when there is none; err is for system failures only.
	Lookup(ctx context.Context, id Identifier) (c Customer, found bool, err error)
	// Resolve returns the customer for an identifier that has just been
	// verified. A host may create the customer here and set IsNew; a host
	// that does not returns found false, and verification fails with
	// ErrUnknownCustomer.
	Resolve(ctx context.Context, id Identifier) (c Customer, found bool, err error)
}
