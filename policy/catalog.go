package policy

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Catalog binds actions to the flag that governs each. [NewCatalog] returns
// one holding the built-in actions; a host adds its own with
// [Catalog.Register].
//
// A Catalog is safe for concurrent use: any number of goroutines may call
// Lookup, Actions, Decide and Rule, also while another goroutine registers an
// action (reads see a consistent snapshot and never block). Registration is
// meant for set-up, before a guard resolves its rules. The zero Catalog is
// empty — it holds no built-ins — and ready for Register. A Catalog must not be
// copied after first use.
type Catalog struct {
	mu    sync.Mutex // serialises Register
	state atomic.Pointer[catalogState]
}

// catalogState is an immutable snapshot; Register replaces it whole.
type catalogState struct {
	builtins bool            // the built-in actions are present
	extra    map[Action]Flag // registered actions that are not built-ins
	order    []Action        // every action, in Actions order
}

// lookup returns the flag bound to a. Built-ins are matched by a switch,
// which needs no hashing; only registered actions use the map.
func (st *catalogState) lookup(a Action) (Flag, bool) {
	if st == nil {
		return Never, false
	}
	if st.builtins {
		if f, ok := builtinFlag(a); ok {
			return f, true
		}
	}
	f, ok := st.extra[a]
	return f, ok
}

// NewCatalog returns a catalogue holding the built-in actions of the seed's
// action table, bound as documented on each Action constant.
func NewCatalog() *Catalog {
	st := &catalogState{builtins: true, order: make([]Action, 0, len(builtins))}
	for _, b := range builtins {
		st.order = append(st.order, b.action)
	}
	c := &Catalog{}
	c.state.Store(st)
	return c
}

// Register binds action a to flag f (one of the require flags, or [Never]).
// Registering an action again with the same flag is a no-op; with a different
// flag it is an error wrapping [ErrActionConflict], and the first binding
// stays. An empty name is an error wrapping [ErrInvalidAction]; a flag outside
// the four defined ones is an error wrapping [ErrUnknownFlag].
func (c *Catalog) Register(a Action, f Flag) error {
	if a == "" {
		return fmt.Errorf("policy: register action: %w: empty name", ErrInvalidAction)
	}
	if !f.valid() {
		return fmt.Errorf("policy: register action %q: %w %d", a, ErrUnknownFlag, f)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.state.Load()
	if cur, ok := old.lookup(a); ok {
		if cur == f {
			return nil
		}
		return fmt.Errorf("policy: register action %q as %s: %w: bound to %s", a, f, ErrActionConflict, cur)
	}
	st := &catalogState{}
	if old != nil {
		st.builtins = old.builtins
		st.extra = make(map[Action]Flag, len(old.extra)+1)
		for k, v := range old.extra {
			st.extra[k] = v
		}
		st.order = append(make([]Action, 0, len(old.order)+1), old.order...)
	} else {
		st.extra = make(map[Action]Flag, 1)
	}
	st.extra[a] = f
	st.order = append(st.order, a)
	c.state.Store(st)
	return nil
}

// Lookup returns the flag that governs a, and whether a is catalogued.
func (c *Catalog) Lookup(a Action) (Flag, bool) {
	return c.state.Load().lookup(a)
}

// Actions returns every catalogued action: the built-ins in the seed's order,
// then the registered ones in registration order. The slice is a fresh copy.
func (c *Catalog) Actions() []Action {
	st := c.state.Load()
	if st == nil {
		return nil
	}
	return append([]Action(nil), st.order...)
}

// Decide returns the decision for action a under policy p (see the package
// documentation for the rules). When the decision is Required, its SingleUse
// and MaxAge carry p's settings for a. An uncatalogued action returns an error
// wrapping [ErrUnknownAction], together with a fail-closed decision (Required,
// [ReasonUnknown]). Decide does not allocate unless it fails.
func (c *Catalog) Decide(p Policy, a Action) (d Decision, err error) {
	if f, ok := c.state.Load().lookup(a); ok {
		d.decide(a, f, &p)
		return d, nil
	}
	d.failClosed(a, &p)
	return d, fmt.Errorf("policy: decide %q: %w", a, ErrUnknownAction)
}

// Rule resolves action a once, for callers that decide it many times: the
// returned [Rule] decides without a catalogue lookup. An uncatalogued action
// returns an error wrapping [ErrUnknownAction]. A later Register cannot change
// a's binding, so the rule stays correct.
func (c *Catalog) Rule(a Action) (Rule, error) {
	f, ok := c.Lookup(a)
	if !ok {
		return Rule{action: a}, fmt.Errorf("policy: rule for %q: %w", a, ErrUnknownAction)
	}
	return Rule{action: a, flag: f, known: true}, nil
}
