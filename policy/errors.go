package policy

import "errors"

// ErrUnknownAction reports an action that no catalogue knows. Deciding an
// unknown action is a configuration error, never a silent "not required".
var ErrUnknownAction = errors.New("unknown action")

// ErrInvalidAction reports an action that cannot be registered, such as one
// with an empty name.
var ErrInvalidAction = errors.New("invalid action")

// ErrActionConflict reports an attempt to register an action that is already
// bound to a different flag.
var ErrActionConflict = errors.New("action already registered with a different flag")

// ErrUnknownFlag reports a flag value or name that is not one of Never and the
// three require flags.
var ErrUnknownFlag = errors.New("unknown flag")

// ErrUnknownTrustLevel reports a trust level that is not strict, relaxed or
// trusted.
var ErrUnknownTrustLevel = errors.New("unknown trust level")

// ErrContradictoryPolicy reports a policy that sets trust_partner_validation
// together with one or more require_otp_for_* flags.
var ErrContradictoryPolicy = errors.New("contradictory policy")

// ErrEmptyIntegrationID reports an integration ID that is empty or only
// white space.
var ErrEmptyIntegrationID = errors.New("empty integration ID")

// ErrDuplicateIntegration reports an integration ID listed twice.
var ErrDuplicateIntegration = errors.New("duplicate integration")

// ErrEmptyFile reports a policy file that holds nothing but white space.
var ErrEmptyFile = errors.New("empty policy file")

// ErrFileTooLarge reports a policy file larger than the loader accepts.
var ErrFileTooLarge = errors.New("policy file too large")

// ErrSyntax reports a policy file that is not well-formed JSON.
var ErrSyntax = errors.New("invalid JSON")

// ErrTrailingData reports data after the policy file's top-level object.
var ErrTrailingData = errors.New("trailing data after the top-level object")

// ErrUnknownField reports an object member the policy file format does not
// define.
var ErrUnknownField = errors.New("unknown field")

// ErrDuplicateField reports an object member given twice.
var ErrDuplicateField = errors.New("duplicate field")

// ErrWrongType reports a JSON value of the wrong type, such as a number where a
// trust level name belongs.
var ErrWrongType = errors.New("wrong type")

// ErrMissingLevel reports an integration whose "level" is absent or empty.
var ErrMissingLevel = errors.New("missing trust level")

// ErrDuplicateAction reports an action listed twice in a policy's single_use.
var ErrDuplicateAction = errors.New("duplicate action")

// ErrNeverRequired reports an action bound to [Never] in a policy's
// single_use or max_age: it never requires OTP, so no session is checked for
// it and the setting could never apply.
var ErrNeverRequired = errors.New("action never requires OTP")

// ErrInvalidMaxAge reports a max_age that is not a positive duration.
var ErrInvalidMaxAge = errors.New("invalid max age")
