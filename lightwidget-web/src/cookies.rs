//! The web layer's own short-lived cookies (the choice among Pages, the flash of what just
//! happened): `HttpOnly`, `SameSite=Lax`, path `/`, and `Secure` with a `__Host-` name
//! wherever cookies are secure.

use axum::http::{HeaderMap, header};

/// A cookie of the web layer, by its base name (`lw-choice`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LwCookie {
    /// The name on plain HTTP.
    pub plain: &'static str,
    /// The name where cookies are secure (`__Host-…`).
    pub host: &'static str,
}

impl LwCookie {
    fn name(self, secure: bool) -> &'static str {
        if secure { self.host } else { self.plain }
    }

    /// The `Set-Cookie` value that sets it for `max_age` seconds (0 clears it).
    pub fn set(self, secure: bool, value: &str, max_age: i64) -> String {
        let s = if secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{s}",
            self.name(secure)
        )
    }

    /// Its value in the request's cookies.
    pub fn read(self, secure: bool, headers: &HeaderMap) -> Option<&str> {
        let name = self.name(secure);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|h| h.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

/// What just happened, for the next page.
pub(crate) const FLASH: LwCookie = LwCookie {
    plain: "lw-flash",
    host: "__Host-lw-flash",
};

/// The pending choice among Pages.
pub(crate) const CHOICE: LwCookie = LwCookie {
    plain: "lw-choice",
    host: "__Host-lw-choice",
};
