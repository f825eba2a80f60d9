//! The OAuth redirect back to the host: the `code` and `state`, or the person's refusal.

use url::form_urlencoded;

use crate::Error;

/// What the authorize dialog sent back on success.
#[derive(Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The authorization code (single-use, valid for an hour), without the `#_` /
    /// `#_=_` fragment Meta appends.
    pub code: String,
    /// The `state` the host issued (verify it with [`crate::state::StateSigner`]).
    pub state: String,
}

impl std::fmt::Debug for Redirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redirect")
            .field("code", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl Redirect {
    /// Parses the redirect's query string (with or without the leading `?`).
    ///
    /// A refusal (`error=access_denied&error_reason=user_denied&...`) is
    /// [`Error::Denied`]; a query without `code` or `state` is [`Error::Unexpected`].
    ///
    /// ```
    /// use lightwidget_instagram::{Error, callback::Redirect};
    /// let r = Redirect::from_query("?code=AQBx123%23_&state=s1")?;
    /// assert_eq!((r.code.as_str(), r.state.as_str()), ("AQBx123", "s1"));
    /// let denied = Redirect::from_query(
    ///     "error=access_denied&error_reason=user_denied&error_description=Permissions+error",
    /// );
    /// assert!(matches!(denied, Err(Error::Denied { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn from_query(query: &str) -> Result<Self, Error> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let (mut code, mut state, mut error, mut reason, mut description) =
            (None, None, None, None, None);
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "code" => code = Some(v.into_owned()),
                "state" => state = Some(v.into_owned()),
                "error" => error = Some(v.into_owned()),
                "error_reason" => reason = Some(v.into_owned()),
                "error_description" => description = Some(v.into_owned()),
                _ => {}
            }
        }
        if let Some(error) = error {
            return Err(Error::Denied {
                reason: reason.unwrap_or(error),
                description: description.unwrap_or_default(),
            });
        }
        let code = code
            .map(|c| {
                let c = c.trim();
                let c = c.strip_suffix("#_=_").unwrap_or(c);
                c.strip_suffix("#_").unwrap_or(c).to_owned()
            })
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Error::Unexpected("the OAuth redirect carries no code".into()))?;
        let state = state
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::Unexpected("the OAuth redirect carries no state".into()))?;
        Ok(Self { code, state })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_fragments_are_stripped_and_missing_parts_refused() {
        let r = Redirect::from_query("code=AQD9%23_%3D_&state=abc").unwrap();
        assert_eq!(r.code, "AQD9");
        assert!(!format!("{r:?}").contains("AQD9"), "code redacted");
        assert!(matches!(
            Redirect::from_query("state=abc"),
            Err(Error::Unexpected(_))
        ));
        assert!(matches!(
            Redirect::from_query("code=x"),
            Err(Error::Unexpected(_))
        ));
        match Redirect::from_query("error=access_denied&state=abc") {
            Err(Error::Denied {
                reason,
                description,
            }) => {
                assert_eq!(reason, "access_denied");
                assert_eq!(description, "");
            }
            other => panic!("{other:?}"),
        }
    }
}
