//! What a completed flow yields ([`Authorized`]): who the person is, what they
//! granted, the token — or, for a Facebook login with several Pages, the
//! [`PageChoice`]s to choose from — and the account or login it makes.

use lightwidget_core::{ConnectionKind, Entitlements, NewAccount, OwnerId, SocialLogin, Token};

use super::FlowError;

/// What a completed flow yields: who the person is on Instagram (and Facebook), what
/// they granted, and the long-lived token. `Debug` never shows the token.
#[derive(Clone)]
#[non_exhaustive]
pub struct Authorized {
    /// The connection kind.
    pub kind: ConnectionKind,
    /// Instagram user id (Instagram-scoped for consumer; the Instagram business account
    /// id for business).
    pub ig_user_id: lightwidget_core::IgUserId,
    /// Instagram username.
    pub username: String,
    /// `BUSINESS` or `MEDIA_CREATOR` (Instagram Login; `None` for Facebook Login, whose
    /// accounts are business accounts).
    pub account_type: Option<String>,
    /// The Facebook Page (business).
    pub page_id: Option<lightwidget_core::PageId>,
    /// The app-scoped Facebook user id (business): what Facebook Login's deauthorize and
    /// data-deletion callbacks carry.
    pub fb_user_id: Option<lightwidget_core::FbUserId>,
    /// The permissions the person granted.
    pub granted: Vec<String>,
    /// The selected connection's token; `None` while a choice is needed.
    pub(super) token: Option<Token>,
    /// Facebook Login: every Page with an Instagram business account, with its Page
    /// token (empty for Instagram Login).
    pub(super) pages: Vec<(PageChoice, Token)>,
}

/// One Facebook Page with an Instagram business account that a Facebook login gives:
/// what a host shows when the person must choose. No token in it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageChoice {
    /// The Facebook Page id.
    pub page_id: lightwidget_core::PageId,
    /// The Page's name.
    pub page_name: String,
    /// The Instagram business account id.
    pub ig_user_id: lightwidget_core::IgUserId,
    /// Its Instagram username.
    pub username: String,
}

impl std::fmt::Debug for Authorized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorized")
            .field("kind", &self.kind)
            .field("ig_user_id", &self.ig_user_id)
            .field("username", &self.username)
            .field("account_type", &self.account_type)
            .field("page_id", &self.page_id)
            .field("fb_user_id", &self.fb_user_id)
            .field("granted", &self.granted)
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field(
                "choices",
                &self.pages.iter().map(|(c, _)| c).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Authorized {
    fn choice_needed(&self) -> FlowError {
        FlowError::ChoiceNeeded {
            offered: self.pages.iter().map(|(c, _)| c.username.clone()).collect(),
        }
    }

    /// Whether the person must choose among several Pages first (see the
    /// [module docs](super)): then the account fields are empty and the token is not
    /// available.
    pub fn needs_choice(&self) -> bool {
        self.token.is_none()
    }

    /// Facebook Login: every Page with an Instagram business account this login gives,
    /// in Meta's order (empty for Instagram Login).
    pub fn choices(&self) -> Vec<PageChoice> {
        self.pages.iter().map(|(c, _)| c.clone()).collect()
    }

    /// The connection of the Instagram account `ig_user_id`: for Facebook Login, the
    /// Page whose Instagram business account it is, with that Page's own token; for
    /// Instagram Login, this connection if it is that account. Any other id is
    /// [`FlowError::NotAmongPages`] (nothing chosen).
    pub fn choose(&self, ig_user_id: &str) -> Result<Authorized, FlowError> {
        let not_among = || FlowError::NotAmongPages {
            ig_user_id: ig_user_id.into(),
            offered: if self.pages.is_empty() {
                vec![self.username.clone()]
            } else {
                self.pages.iter().map(|(c, _)| c.username.clone()).collect()
            },
        };
        if self.pages.is_empty() {
            return if self.token.is_some() && self.ig_user_id == ig_user_id {
                Ok(self.clone())
            } else {
                Err(not_among())
            };
        }
        let (c, t) = self
            .pages
            .iter()
            .find(|(c, _)| c.ig_user_id == ig_user_id)
            .ok_or_else(not_among)?;
        let mut a = self.clone();
        a.ig_user_id = c.ig_user_id.clone();
        a.username = c.username.clone();
        a.page_id = Some(c.page_id.clone());
        a.token = Some(t.clone());
        Ok(a)
    }

    /// The long-lived token (the chosen Page's token for business);
    /// [`FlowError::ChoiceNeeded`] while none is chosen.
    pub fn token(&self) -> Result<&Token, FlowError> {
        self.token.as_ref().ok_or_else(|| self.choice_needed())
    }

    /// The token, taken; [`FlowError::ChoiceNeeded`] while none is chosen.
    pub fn into_token(self) -> Result<Token, FlowError> {
        match self.token {
            Some(t) => Ok(t),
            None => Err(self.choice_needed()),
        }
    }

    /// The account to `Keeper::connect` for `owner`; [`FlowError::ChoiceNeeded`] while
    /// none is chosen.
    pub fn new_account(
        &self,
        owner: OwnerId,
        entitlements: Entitlements,
    ) -> Result<NewAccount, FlowError> {
        if self.needs_choice() {
            return Err(self.choice_needed());
        }
        let mut n = NewAccount::new(owner, self.kind, &self.ig_user_id, &self.username)
            .with_entitlements(entitlements);
        if let Some(p) = &self.page_id {
            n = n.with_page_id(p.clone());
        }
        // What Facebook Login's deauthorize and data-deletion callbacks name.
        if let Some(fb) = &self.fb_user_id {
            n = n.with_fb_user_id(fb.clone());
        }
        Ok(n)
    }

    /// What `Keeper::login` takes for "Log in with Instagram / Facebook";
    /// [`FlowError::ChoiceNeeded`] while none is chosen.
    pub fn social_login(&self, entitlements: Entitlements) -> Result<SocialLogin, FlowError> {
        if self.needs_choice() {
            return Err(self.choice_needed());
        }
        let mut l = SocialLogin::new(self.kind, &self.ig_user_id, &self.username)
            .with_entitlements(entitlements);
        if let Some(p) = &self.page_id {
            l = l.with_page_id(p.clone());
        }
        if let Some(fb) = &self.fb_user_id {
            l = l.with_fb_user_id(fb.clone());
        }
        Ok(l)
    }
}

/// [`Authorized`] as held between two requests (tokens included: only ever stored
/// sealed, through `TokenStore::put_held`).
#[derive(serde::Serialize, serde::Deserialize)]
struct HeldAuthorized {
    kind: ConnectionKind,
    ig_user_id: lightwidget_core::IgUserId,
    username: String,
    account_type: Option<String>,
    page_id: Option<lightwidget_core::PageId>,
    fb_user_id: Option<lightwidget_core::FbUserId>,
    granted: Vec<String>,
    token: Option<HeldToken>,
    pages: Vec<(HeldPage, HeldToken)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct HeldToken {
    value: String,
    issued_at: chrono::DateTime<chrono::Utc>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    data_access_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    scopes: Vec<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct HeldPage {
    page_id: lightwidget_core::PageId,
    page_name: String,
    ig_user_id: lightwidget_core::IgUserId,
    username: String,
}

impl HeldToken {
    fn of(t: &Token) -> Self {
        Self {
            value: t.secret().to_owned(),
            issued_at: t.issued_at,
            expires_at: t.expires_at,
            data_access_expires_at: t.data_access_expires_at,
            scopes: t.scopes.clone(),
        }
    }

    fn token(self) -> Token {
        let mut t = Token::new(self.value, self.issued_at);
        t.expires_at = self.expires_at;
        t.data_access_expires_at = self.data_access_expires_at;
        t.scopes = self.scopes;
        t
    }
}

/// A held authorization that cannot be read back (damaged or from another version).
#[derive(Debug, thiserror::Error)]
#[error("the held authorization cannot be read: {0}")]
pub struct HeldError(String);

impl Authorized {
    /// The authorization, tokens included, as one secret to hold between two requests
    /// (a pending choice among Pages): store it sealed (`Keeper::hold`), never in a
    /// cookie or a page. [`Authorized::from_held`] reads it back.
    pub fn to_held(&self) -> secrecy::SecretString {
        let h = HeldAuthorized {
            kind: self.kind,
            ig_user_id: self.ig_user_id.clone(),
            username: self.username.clone(),
            account_type: self.account_type.clone(),
            page_id: self.page_id.clone(),
            fb_user_id: self.fb_user_id.clone(),
            granted: self.granted.clone(),
            token: self.token.as_ref().map(HeldToken::of),
            pages: self
                .pages
                .iter()
                .map(|(c, t)| {
                    (
                        HeldPage {
                            page_id: c.page_id.clone(),
                            page_name: c.page_name.clone(),
                            ig_user_id: c.ig_user_id.clone(),
                            username: c.username.clone(),
                        },
                        HeldToken::of(t),
                    )
                })
                .collect(),
        };
        serde_json::to_string(&h)
            .unwrap_or_else(|_| String::from("{}"))
            .into()
    }

    /// Reads back what [`Authorized::to_held`] gave.
    pub fn from_held(held: &secrecy::SecretString) -> Result<Self, HeldError> {
        use secrecy::ExposeSecret;
        // Only the position: serde's messages can quote the input, tokens included.
        let h: HeldAuthorized = serde_json::from_str(held.expose_secret())
            .map_err(|e| HeldError(format!("at line {} column {}", e.line(), e.column())))?;
        Ok(Self {
            kind: h.kind,
            ig_user_id: h.ig_user_id,
            username: h.username,
            account_type: h.account_type,
            page_id: h.page_id,
            fb_user_id: h.fb_user_id,
            granted: h.granted,
            token: h.token.map(HeldToken::token),
            pages: h
                .pages
                .into_iter()
                .map(|(p, t)| {
                    (
                        PageChoice {
                            page_id: p.page_id,
                            page_name: p.page_name,
                            ig_user_id: p.ig_user_id,
                            username: p.username,
                        },
                        t.token(),
                    )
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod held_tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn an_authorization_survives_being_held_and_its_debug_shows_no_token() {
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        let mut page_token = Token::new("EAAB-page-secret", at);
        page_token.scopes = vec!["instagram_basic".into()];
        let a = Authorized {
            kind: ConnectionKind::Business,
            ig_user_id: "1784".into(),
            username: "shop".into(),
            account_type: None,
            page_id: None,
            fb_user_id: Some("99".into()),
            granted: vec!["instagram_basic".into()],
            token: None,
            pages: vec![(
                PageChoice {
                    page_id: "55".into(),
                    page_name: "Shop".into(),
                    ig_user_id: "1784".into(),
                    username: "shop".into(),
                },
                page_token,
            )],
        };
        let back = Authorized::from_held(&a.to_held()).unwrap();
        assert_eq!(format!("{a:?}"), format!("{back:?}"));
        assert!(!format!("{back:?}").contains("EAAB"));
        let chosen = back.choose("1784").unwrap();
        assert_eq!(chosen.into_token().unwrap().secret(), "EAAB-page-secret");
        let bad = Authorized::from_held(&"{\"kind\":\"nope\"".to_owned().into()).unwrap_err();
        assert!(!bad.to_string().contains("nope"), "{bad}");
    }
}
