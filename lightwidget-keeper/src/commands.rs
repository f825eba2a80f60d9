//! The one-shot commands: connect, status, history, refresh, preferences, import.

use std::io::Read;

use chrono::{DateTime, TimeDelta, Utc};
use lightwidget::*;

use super::Fail;
use super::cli::Command;

fn parse_id(s: &str) -> Result<AccountId, Fail> {
    s.parse().map_err(|_| {
        Fail::Other(format!(
            "{:?} is not an account id (a UUID, as printed by `connect` and `status`)",
            s.chars().take(64).collect::<String>()
        ))
    })
}

fn when(t: Option<DateTime<Utc>>, fmt: &str) -> String {
    t.map_or_else(|| "never".into(), |t| t.format(fmt).to_string())
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, Fail> {
    serde_json::to_string_pretty(v).map_err(|e| Fail::Other(e.to_string()))
}

/// The token for `connect`: `$LIGHTWIDGET_TOKEN`, else stdin (never the command line,
/// where `ps` would show it). A variable that is set but not UTF-8 is an error, not a
/// reason to read stdin instead.
fn read_token() -> Result<String, Fail> {
    let token = match std::env::var_os("LIGHTWIDGET_TOKEN") {
        Some(v) => v.into_string().map_err(|_| {
            Fail::Other("LIGHTWIDGET_TOKEN is not valid UTF-8 (a Meta token is ASCII)".into())
        })?,
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(super::import::MAX_LINE_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| Fail::Other(format!("reading the token from stdin: {e}")))?;
            String::from_utf8(bytes).map_err(|_| {
                Fail::Other("the token on stdin is not valid UTF-8 (a Meta token is ASCII)".into())
            })?
        }
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(Fail::Other(
            "no token: set LIGHTWIDGET_TOKEN or pipe it on stdin".into(),
        ));
    }
    Ok(token)
}

/// A token issued at `issued_at` (default now), expiring at `expires_at` or
/// `expires_in_days` after it was issued; out-of-range times are refused, not wrapped.
pub fn token(
    value: String,
    issued_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    expires_in_days: Option<u32>,
) -> Result<Token, String> {
    let now = Utc::now();
    let issued_at = issued_at.unwrap_or(now);
    if issued_at > now + TimeDelta::minutes(5) {
        return Err(format!(
            "issued_at {} is in the future",
            issued_at.to_rfc3339()
        ));
    }
    let expires_at = match (expires_at, expires_in_days) {
        (Some(at), _) => Some(at),
        (None, Some(d)) => Some(
            issued_at
                .checked_add_signed(TimeDelta::days(i64::from(d)))
                .ok_or_else(|| format!("{d} days after issued_at is out of range"))?,
        ),
        (None, None) => None,
    };
    if let Some(at) = expires_at
        && at <= issued_at
    {
        return Err(format!(
            "expires_at {} is not after issued_at {}",
            at.to_rfc3339(),
            issued_at.to_rfc3339()
        ));
    }
    let t = Token::new(value, issued_at);
    Ok(match expires_at {
        Some(at) => t.expiring_at(at),
        None => t,
    })
}

/// Runs one command against an opened keeper.
pub async fn one_shot(keeper: &Keeper, cmd: Command) -> Result<(), Fail> {
    match cmd {
        Command::Connect {
            kind,
            ig_user_id,
            username,
            owner,
            page_id,
            expires_in_days,
            expires_at,
            issued_at,
            notifications,
            fb_user_id,
            scopes,
            data_access_expires_at,
            force,
        } => {
            let mut t = token(read_token()?, issued_at, expires_at, expires_in_days)
                .map_err(Fail::Other)?
                .with_data_access_expires_at(data_access_expires_at);
            let scopes: Vec<String> = scopes
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            if !scopes.is_empty() {
                t = t.with_scopes(scopes);
            }
            let mut acct = NewAccount::new(owner, kind.into(), ig_user_id, username)
                .with_entitlements(Entitlements { notifications });
            if let Some(p) = page_id {
                acct = acct.with_page_id(p);
            }
            if let Some(f) = fb_user_id {
                acct = acct.with_fb_user_id(f);
            }
            // --issued-at defaults to now: a token typed in is taken as just issued, so it
            // replaces an older one; only an earlier --issued-at is refused (--force).
            let opts = ConnectOptions::default().force(force);
            let (id, outcome) = keeper.connect_with(acct, t, opts).await?;
            match outcome {
                ConnectOutcome::Unchanged => {
                    eprintln!("the account holds this token already: nothing changed");
                }
                ConnectOutcome::Renewed => {
                    eprintln!("a newer token for a connected account: installed");
                }
                _ => {}
            }
            println!("{id}");
        }
        Command::Status {
            account,
            owner,
            json,
        } => status(keeper, account, owner, json).await?,
        Command::History {
            account,
            limit,
            json,
        } => {
            let h = keeper
                .history(
                    parse_id(&account)?,
                    HistoryQuery {
                        before: None,
                        limit,
                    },
                )
                .await?;
            if json {
                let events: Vec<_> = h.iter().map(|e| &e.event).collect();
                println!("{}", to_json(&events)?);
            } else {
                print!("{}", history_table(&h));
            }
        }
        Command::Refresh { account } => {
            let s = keeper.force_refresh(parse_id(&account)?).await?;
            println!(
                "refresh scheduled for {}",
                when(s.next_action_at, "%Y-%m-%d %H:%M:%S UTC")
            );
        }
        Command::Preferences { .. } => preferences(keeper, cmd).await?,
        Command::Import {
            file,
            format,
            force,
        } => super::import::run(keeper, &file, format, force).await?,
        Command::Incidents { all, json } => {
            let list = keeper.incidents(!all, 100).await?;
            if json {
                println!("{}", to_json(&list)?);
            } else if list.is_empty() {
                println!("no {}incidents", if all { "" } else { "open " });
            } else {
                for i in list {
                    println!(
                        "{}  {:<8} {:<12} opened {}  {}  {} account(s)  {}",
                        i.id,
                        i.connection,
                        i.kind.as_str(),
                        i.opened_at.format("%Y-%m-%d %H:%M:%S UTC"),
                        match i.resolved_at {
                            Some(at) => format!("resolved {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
                            None => "OPEN".to_owned(),
                        },
                        i.accounts,
                        i.error
                    );
                }
            }
        }
        Command::Keys { action } => keys(keeper, action).await?,
        Command::Demo { .. } | Command::Run { .. } => unreachable!("handled in main"),
    }
    Ok(())
}

async fn status(
    keeper: &Keeper,
    account: Option<String>,
    owner: Option<String>,
    json: bool,
) -> Result<(), Fail> {
    let reports = match (account, owner) {
        (Some(a), _) => vec![keeper.status(parse_id(&a)?).await?],
        (None, Some(o)) => keeper.statuses(&OwnerId::new(o)).await?,
        (None, None) => {
            let h = keeper.health(std::time::Duration::from_secs(600)).await?;
            println!(
                "active {} · expired {} · revoked {} · last sweep {} ({})",
                h.counts.active,
                h.counts.expired,
                h.counts.revoked,
                when(h.last_sweep_at, "%Y-%m-%d %H:%M:%S UTC"),
                if h.stale {
                    "STALE: is a keeper running?"
                } else {
                    "ok"
                }
            );
            for i in &h.incidents {
                println!(
                    "INCIDENT {} ({} app, {}) open since {}: {} account(s); {}",
                    i.id,
                    i.connection,
                    i.kind.as_str(),
                    i.opened_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    i.accounts,
                    i.error
                );
            }
            return Ok(());
        }
    };
    if json {
        println!("{}", to_json(&reports)?);
        return Ok(());
    }
    for r in reports {
        println!(
            "{}  @{:<24} {:<8} {:<10} {:<22} last check {}  expires {}",
            r.account.id,
            r.account.username,
            r.account.kind,
            r.headline(),
            r.status.reason().map(|x| x.code()).unwrap_or_default(),
            when(r.last_checked_at, "%Y-%m-%d %H:%M UTC"),
            when(r.expires_at, "%Y-%m-%d"),
        );
    }
    Ok(())
}

/// History as a table: time, event, details in words.
pub fn history_table(h: &[HistoryEntry]) -> String {
    use std::fmt::Write;
    let mut out = format!("{:<23}  {:<18}  {}\n", "time (UTC)", "event", "details");
    for e in h {
        let details = match &e.event.kind {
            TokenEventKind::Connected { expires_at }
            | TokenEventKind::Refreshed { expires_at }
            | TokenEventKind::Reconnected { expires_at } => {
                format!("expires {}", when(*expires_at, "%Y-%m-%d %H:%M UTC"))
            }
            TokenEventKind::Expired { reason } => reason.describe(),
            TokenEventKind::Revoked => "the owner removed the app".into(),
            TokenEventKind::NoticeSent { topic, channels } => {
                format!("{topic} via {}", channels.join(", "))
            }
            TokenEventKind::NoticeSuppressed { topic, why } => format!("{topic}: {why}"),
            TokenEventKind::NoticeFailed { topic, error } => format!("{topic}: {error}"),
            #[allow(unreachable_patterns)]
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{:<23}  {:<18}  {details}",
            e.event.at.format("%Y-%m-%d %H:%M:%S"),
            e.event.kind.name()
        );
    }
    out
}

fn parse_topics(s: &str) -> Result<std::collections::BTreeSet<NoticeTopic>, Fail> {
    match s.trim() {
        "all" => Ok(NoticeTopic::ALL.into_iter().collect()),
        "none" | "" => Ok(Default::default()),
        list => list
            .split(',')
            .map(|t| {
                t.trim().parse::<NoticeTopic>().map_err(|_| {
                    Fail::Other(format!(
                        "--topics: {:?} is not a topic; give a comma-separated list of {} (or all / none)",
                        t.trim().chars().take(40).collect::<String>(),
                        NoticeTopic::ALL.map(|t| t.as_str()).join(", ")
                    ))
                })
            })
            .collect(),
    }
}

fn parse_recipients(email: Vec<String>, webhook: Vec<String>) -> Result<Vec<Recipient>, Fail> {
    let mut out = Vec::new();
    for e in email {
        let e = e.trim().to_owned();
        // lettre's parser; it refuses CR/LF, and 254 is SMTP's limit on a path.
        if e.len() > 254 || e.parse::<lettre::Address>().is_err() {
            return Err(Fail::Other(format!(
                "--email {:?} is not an email address",
                e.chars().take(64).collect::<String>()
            )));
        }
        out.push(Recipient::Email(e));
    }
    for w in webhook {
        let u = url::Url::parse(w.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
            .ok_or_else(|| {
                Fail::Other(format!(
                    "--webhook {:?} is not an http(s) URL",
                    w.chars().take(64).collect::<String>()
                ))
            })?;
        out.push(Recipient::Webhook(u));
    }
    Ok(out)
}

/// `keeper preferences`: shows an owner's preferences, after applying any `--set` option.
async fn preferences(keeper: &Keeper, cmd: Command) -> Result<(), Fail> {
    let Command::Preferences {
        owner,
        topics,
        email,
        webhook,
        no_recipients,
        entitled,
        json,
    } = cmd
    else {
        unreachable!("called for the preferences command only")
    };
    let owner = OwnerId::new(owner);
    let topics = topics.as_deref().map(parse_topics).transpose()?;
    let set_recipients = no_recipients || !email.is_empty() || !webhook.is_empty();
    let recipients = parse_recipients(email, webhook)?;
    let mut prefs = keeper.preferences(&owner).await?;
    if topics.is_some() || set_recipients {
        if let Some(t) = topics {
            prefs.topics = t;
        }
        if set_recipients {
            prefs.recipients = recipients;
        }
        keeper.set_preferences(&prefs).await?;
    }
    let accounts = keeper.statuses(&owner).await?;
    if let Some(on) = entitled {
        for r in &accounts {
            keeper
                .set_entitlements(r.account.id, Entitlements { notifications: on })
                .await?;
        }
    }
    let entitled_now: Vec<bool> = match entitled {
        Some(on) => accounts.iter().map(|_| on).collect(),
        None => accounts
            .iter()
            .map(|r| r.account.entitlements.notifications)
            .collect(),
    };
    if json {
        let v = serde_json::json!({
            "owner": prefs.owner,
            "topics": prefs.topics,
            "recipients": prefs.recipients,
            "accounts": accounts.iter().zip(&entitled_now).map(|(r, e)| serde_json::json!({
                "id": r.account.id, "username": r.account.username, "entitled": e,
            })).collect::<Vec<_>>(),
        });
        println!("{}", to_json(&v)?);
        return Ok(());
    }
    let topics: Vec<_> = prefs.topics.iter().map(|t| t.as_str()).collect();
    println!("owner       {}", prefs.owner);
    println!(
        "topics      {}",
        if topics.is_empty() {
            "none (no notices)".into()
        } else {
            topics.join(", ")
        }
    );
    if prefs.recipients.is_empty() {
        println!("recipients  none");
    }
    for r in &prefs.recipients {
        match r {
            Recipient::Email(e) => println!("recipient   email {e}"),
            Recipient::Webhook(u) => println!("recipient   webhook {u}"),
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
    for (r, e) in accounts.iter().zip(&entitled_now) {
        println!(
            "account     {}  @{}  notices {}",
            r.account.id,
            r.account.username,
            if *e { "allowed" } else { "not in plan" }
        );
    }
    Ok(())
}

/// `keys create | list | revoke`.
async fn keys(keeper: &Keeper, action: super::cli::KeysAction) -> Result<(), Fail> {
    use super::api::keys::{self, Scope};
    use super::cli::{KeysAction, ScopeArg};
    match action {
        KeysAction::Create { name, scope } => {
            let scope = match scope {
                ScopeArg::Read => Scope::Read,
                ScopeArg::Write => Scope::Write,
                ScopeArg::Admin => Scope::Admin,
            };
            let (key, rec) = keys::create(keeper, &name, scope).await?;
            eprintln!(
                "created {} key {} ({}); it is shown once, keep it in your secret store:",
                rec.scope.as_str(),
                rec.id,
                rec.name
            );
            println!("{}", secrecy::ExposeSecret::expose_secret(&key));
        }
        KeysAction::List { json } => {
            let list = keys::list(keeper).await?;
            if json {
                println!("{}", to_json(&list)?);
            } else if list.is_empty() {
                println!(
                    "no API keys (create one with `keys create --name NAME --scope read|write|admin`)"
                );
            } else {
                for k in list {
                    println!(
                        "{}  {:<5}  created {}  {}",
                        k.id,
                        k.scope.as_str(),
                        k.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
                        k.name
                    );
                }
            }
        }
        KeysAction::Revoke { id } => {
            if keys::revoke(keeper, &id).await? {
                println!("revoked {}", id.trim());
            } else {
                return Err(Fail::Other(format!(
                    "no key {:?} (see `keys list`)",
                    id.trim().chars().take(40).collect::<String>()
                )));
            }
        }
    }
    Ok(())
}
