package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// DeletePhrase is what a person types to delete their account.
const DeletePhrase = "delete my account"

func (p *Pages) settings(c echo.Context) error {
	v := viewerOf(c)
	return p.render(c, http.StatusOK, "settings", "Settings", "settings", struct {
		Name, Email, Phrase string
	}{v.User.Name, v.User.Email, DeletePhrase})
}
