//! Each Graph error payload (real shapes) → the right outcome and reason.

use lightwidget_core::{ExpiryReason, ProviderError};
use lightwidget_instagram::classify::classify_response;

#[derive(Debug, PartialEq)]
enum Want {
    Expired(ExpiryReason),
    Revoked,
    Transient,
    RateLimited,
    Permission,
    Fatal,
}

fn outcome(e: &ProviderError) -> Want {
    match e {
        ProviderError::Expired { reason, .. } => Want::Expired(*reason),
        ProviderError::Revoked { .. } => Want::Revoked,
        ProviderError::Transient { .. } => Want::Transient,
        ProviderError::RateLimited { .. } => Want::RateLimited,
        ProviderError::Permission { .. } => Want::Permission,
        _ => Want::Fatal,
    }
}

fn graph(code: i64, sub: Option<i64>, msg: &str) -> String {
    let sub = sub
        .map(|s| format!(r#","error_subcode":{s}"#))
        .unwrap_or_default();
    format!(
        r#"{{"error":{{"message":"{msg}","type":"OAuthException","code":{code}{sub},"fbtrace_id":"AbC123"}}}}"#
    )
}

#[test]
fn every_row_of_the_table() {
    use ExpiryReason::*;
    let rows: Vec<(u16, String, Want)> = vec![
        (400, graph(190, Some(458), "Error validating access token: The user has not authorized application 123."), Want::Revoked),
        (400, graph(190, Some(459), "Error validating access token: You cannot access the app till you log in to www.facebook.com and follow the instructions given."), Want::Expired(SecurityCheckpoint)),
        (400, graph(190, Some(460), "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons."), Want::Expired(PasswordChanged)),
        (400, graph(190, Some(463), "Error validating access token: Session has expired on Tuesday, 01-Apr-25 10:00:00 PDT. The current time is Wednesday, 02-Apr-25 10:00:00 PDT."), Want::Expired(LifetimeEnded)),
        (400, graph(190, Some(464), "Error validating access token: Sessions for the user are not allowed because the user is not a confirmed user."), Want::Expired(SecurityCheckpoint)),
        (400, graph(190, Some(467), "Error validating access token: The session is invalid because the user logged out."), Want::Expired(SessionInvalidated)),
        (400, graph(190, Some(492), "Error validating access token: The user does not have a role on the Page."), Want::Expired(SessionInvalidated)),
        (400, graph(190, Some(999), "Error validating access token: something new."), Want::Expired(Unknown { code: 190, subcode: Some(999) })),
        (400, graph(190, None, "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons."), Want::Expired(PasswordChanged)),
        (400, graph(190, None, "Error validating access token: The user has not authorized application 1234."), Want::Revoked),
        (400, graph(190, None, "Error validating access token: Session has expired on Friday, 05-Apr-24 09:00:00 PDT."), Want::Expired(LifetimeEnded)),
        (400, graph(190, None, "Error validating access token: The session is invalid because the user logged out."), Want::Expired(SessionInvalidated)),
        (400, graph(102, None, "Session key invalid or no longer valid"), Want::Expired(SessionInvalidated)),
        // The app, not the token: never an expiry (app-level, an incident if it is everyone's).
        (400, graph(190, None, "Error validating application. Application has been deleted."), Want::Fatal),
        (400, graph(190, None, "Error validating application. Invalid application ID."), Want::Fatal),
        (400, graph(3, None, "(#3) Application does not have the capability to make this API call."), Want::Permission),
        (400, graph(10, None, "(#10) Application does not have permission for this action"), Want::Permission),
        (400, graph(200, None, "(#200) The user hasn't authorized the application to perform this action"), Want::Expired(PermissionRemoved)),
        (500, graph(1, None, "An unknown error occurred"), Want::Transient),
        (503, graph(2, None, "Service temporarily unavailable"), Want::Transient),
        (400, graph(4, None, "(#4) Application request limit reached"), Want::RateLimited),
        (400, graph(17, None, "(#17) User request limit reached"), Want::RateLimited),
        (400, graph(32, None, "(#32) Page request limit reached"), Want::RateLimited),
        (400, graph(341, None, "(#341) Application limit reached"), Want::Transient),
        (400, graph(368, None, "(#368) The action attempted has been deemed abusive or is otherwise disallowed"), Want::RateLimited),
        (400, graph(613, Some(1996), "(#613) Calls to this api have exceeded the rate limit."), Want::RateLimited),
        (400, graph(80001, None, "(#80001) There have been too many calls to this Page account. Wait a bit and try again."), Want::RateLimited),
        (400, graph(80002, None, "(#80002) There have been too many calls to this Instagram account."), Want::RateLimited),
        (400, graph(80014, None, "(#80014) Catalog batch rate limit"), Want::RateLimited),
        (400, graph(10, None, "(#10) Application does not have permission for this action"), Want::Permission),
        (400, graph(200, None, "(#200) Permissions error"), Want::Permission),
        (400, graph(299, None, "(#299) Requires a permission"), Want::Permission),
        (400, r#"{"error":{"message":"Please retry","code":9999,"is_transient":true}}"#.into(), Want::Transient),
        (400, r#"{"error_type":"OAuthException","code":400,"error_message":"Matching code was not found or was already used"}"#.into(), Want::Fatal),
        (502, "<html>Bad Gateway</html>".into(), Want::Transient),
        (500, "".into(), Want::Transient),
        (400, "{not json".into(), Want::Transient),
        (429, "".into(), Want::RateLimited),
        // A 5xx never expires a token, whatever its body says.
        (500, graph(190, Some(460), "changed their password"), Want::Transient),
        (400, graph(190, Some(466), "Error validating access token: The session was invalidated explicitly using an API call."), Want::Expired(SessionInvalidated)),
        (400, graph(190, Some(461), "Error validating access token: app reinstalled"), Want::Expired(Unknown { code: 190, subcode: Some(461) })),
        (400, graph(102, Some(460), "Session has been invalidated because the user changed their password"), Want::Expired(PasswordChanged)),
        (400, graph(190, None, "Invalid OAuth access token - Cannot parse access token"), Want::Expired(SessionInvalidated)),
        (400, r#"{"error":{"message":"Error validating access token: Session has expired","code":190,"error_subcode":463,"is_transient":true}}"#.into(), Want::Transient),
        (400, graph(3, None, "(#3) Application does not have the capability to make this API call."), Want::Permission),
        (400, graph(100, None, "(#100) Invalid parameter"), Want::Fatal),
        (400, r#"{"error_type":"OAuthException","code":190,"error_message":"Error validating access token: The user has not authorized application 1."}"#.into(), Want::Revoked),
    ];
    for (status, body, want) in rows {
        let got = classify_response(status, body.as_bytes(), None);
        assert_eq!(outcome(&got), want, "HTTP {status} {body}");
        assert!(!got.to_string().is_empty());
    }
}

#[test]
fn transient_and_rate_limited_carry_the_retry_time() {
    let d = std::time::Duration::from_secs(600);
    let e = classify_response(400, graph(80002, None, "limit").as_bytes(), Some(d));
    assert_eq!(e.retry_after(), Some(d));
    assert!(e.is_transient() && e.is_rate_limited());
}
