package main

// A password changed in vCenter, which vcsim has no way to do: it accepts
// the -username/-password it was started with for ever.  On vCenter, once
// an administrator changes the account's password (vSphere Client,
// Administration > Single Sign On > Users), Login with the old one fails
// with InvalidLogin and the new one is accepted; the sessions already open
// stay valid until they end (vSphere API reference, InvalidLogin: "Thrown
// when a server logon fails due to a bad user name or password").  The simulator's own hook for this is
// SessionManager.ValidLogin (govmomi simulator/session_manager.go,
// Authenticate), which the front sets: it checks the user and the current
// password, and counts what it accepts and refuses.
//
// /harness/password: POST with the new password as the body changes it
// (never in the URL, so it is in no access log); GET answers the counts
// {"accepted": N, "refused": N}; DELETE zeroes them.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

type passwords struct {
	mu       sync.Mutex
	user     string
	pass     string
	accepted int
	refused  int
}

// installPasswords makes the simulator check Login against a password the
// control API can change; nothing when vcsimd accepts any user.
func installPasswords(model *simulator.Model) *passwords {
	u := model.Service.Listen.User
	if u == nil {
		return nil
	}
	pass, _ := u.Password()
	p := &passwords{user: u.Username(), pass: pass}
	model.Service.Context.Map.SessionManager().ValidLogin = p.valid
	return p
}

func (p *passwords) valid(req *types.Login) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ok := req.UserName == p.user && req.Password == p.pass
	if ok {
		p.accepted++
	} else {
		p.refused++
	}
	return ok
}

func (p *passwords) control(w http.ResponseWriter, r *http.Request, _ url.Values) {
	if p == nil {
		http.Error(w, "vcsimd accepts any user: start it with -username and -password", http.StatusConflict)
		return
	}
	switch r.Method {
	case http.MethodPost:
		b, err := io.ReadAll(io.LimitReader(r.Body, 4096))
		if err != nil || len(b) == 0 {
			http.Error(w, "the new password is the request body", http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.pass = string(b)
		p.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		p.mu.Lock()
		p.accepted, p.refused = 0, 0
		p.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		p.mu.Lock()
		data, _ := json.Marshal(map[string]int{"accepted": p.accepted, "refused": p.refused})
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	}
}
