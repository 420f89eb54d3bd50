//! `inkan segment` and `inkan pin`: card segments, their salt rotation, and PINs handed out
//! for a card (docs/cards.md).

use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use inkan_attest::card_pin::CardData;
use inkan_authority::{DataDir, SegmentSettings, Segments, SEGMENT_LIFETIME};

use super::open_store;
use crate::output::{rfc3339, table};
use crate::running::load_config;

#[derive(Debug, Subcommand)]
pub enum SegmentCommand {
    /// Create a segment (a department) with a fresh salt, accepted for --lifetime.
    Create {
        /// Its name: 1 to 64 letters, digits or -.
        name: String,
        /// PIN length, 6 to 10.
        #[arg(long, default_value_t = 6)]
        digits: u8,
        /// Derive PINs from the card's PMm too (readers then must report it).
        #[arg(long)]
        pmm: bool,
        /// How long the first salt is accepted (365d).
        #[arg(long, value_parser = parse_duration)]
        lifetime: Option<Duration>,
        /// Failed logins that lock a card until `inkan segment unlock` (1 to 100).
        #[arg(long, default_value_t = 5)]
        max_card_failures: u16,
        /// Failed logins that lock a client address for 15 minutes (1 to 10000).
        #[arg(long, default_value_t = 20)]
        max_address_failures: u16,
    },
    /// Rotate the salt (yearly): the current PINs stay valid for --window (14d to 28d), the
    /// new ones from now on. Hand out the new PINs during the window.
    Rotate {
        /// The segment.
        name: String,
        /// The renewal window in which the old and the new PIN both work.
        #[arg(long, default_value = "21d", value_parser = parse_duration)]
        window: Duration,
        /// How long the new salt is accepted (365d).
        #[arg(long, value_parser = parse_duration)]
        lifetime: Option<Duration>,
    },
    /// Revoke a card in a segment (lost, PIN leaked): it gets no PIN until the next rotation,
    /// which clears the list.
    RevokeCard {
        /// The segment.
        name: String,
        /// The card's IDm (16 hex digits).
        #[arg(long)]
        idm: String,
        /// Why: lost, pin-leaked, …
        #[arg(long, default_value = "lost")]
        reason: String,
    },
    /// Register a card for level-1 login (its IDm alone admits it: an entry system's list).
    RegisterCard {
        /// The segment.
        name: String,
        /// The card's IDm (16 hex digits).
        #[arg(long)]
        idm: String,
        /// Whose card it is (a name or staff number).
        #[arg(long)]
        holder: String,
    },
    /// Remove a level-1 card.
    UnregisterCard {
        /// The segment.
        name: String,
        /// The card's IDm.
        #[arg(long)]
        idm: String,
    },
    /// Add a level-3 user: a name, the card it logs in with, and a password read from standard
    /// input (stored as an argon2id hash).
    AddUser {
        /// The segment.
        name: String,
        /// The user name.
        #[arg(long)]
        user: String,
        /// The IDm of the user's card.
        #[arg(long)]
        idm: String,
    },
    /// Remove a level-3 user.
    RemoveUser {
        /// The segment.
        name: String,
        /// The user name.
        #[arg(long)]
        user: String,
    },
    /// Lift the lock of a card or a client address after too many failed logins.
    Unlock {
        /// The segment.
        name: String,
        /// The card's IDm.
        #[arg(long, conflicts_with = "address")]
        idm: Option<String>,
        /// The client address.
        #[arg(long)]
        address: Option<std::net::IpAddr>,
    },
    /// List cards and addresses with failed logins, locked or not.
    Attempts {
        /// Only this segment.
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the segments, or show one with its salt generations (never a salt).
    List {
        /// Only this segment, with its generations.
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PinCommand {
    /// Print the PIN of a card in a segment, from its typed data (as a reader shows it). The
    /// PIN is printed once, as the last line, and stored nowhere; the audit log records the
    /// card's IDm.
    Issue {
        /// The segment.
        #[arg(long)]
        segment: String,
        /// The card's IDm (16 hex digits; colons and spaces allowed).
        #[arg(long, required_unless_present = "reader", conflicts_with = "reader")]
        idm: Option<String>,
        /// Read the card on a PC/SC reader instead (its name, or "" for the first reader).
        #[arg(long)]
        reader: Option<String>,
        /// The card's system code (0003 for transport cards such as Suica).
        #[arg(long, default_value = "0003")]
        system_code: String,
        /// The card's PMm, for segments that use it.
        #[arg(long)]
        pmm: Option<String>,
    },
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    inkan_pki::duration_text::parse(text)
}

fn idm_card(idm: &str) -> anyhow::Result<CardData> {
    CardData::parse("0000", idm, None).map_err(|e| anyhow::anyhow!("{e}"))
}

fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "admin".into())
    )
}

async fn segments(data_dir: &DataDir) -> anyhow::Result<Segments> {
    let config = load_config(data_dir, None)?;
    let store = open_store(data_dir, &config).await?;
    Ok(Segments::new(store, Arc::new(data_dir.sealing_key()?)))
}

pub async fn run(data_dir: &DataDir, cmd: SegmentCommand) -> anyhow::Result<()> {
    let segments = segments(data_dir).await?;
    match cmd {
        SegmentCommand::Create {
            name,
            digits,
            pmm,
            lifetime,
            max_card_failures,
            max_address_failures,
        } => {
            let settings = SegmentSettings {
                pin_digits: digits,
                use_pmm: pmm,
                max_card_failures,
                max_address_failures,
            };
            segments
                .create(
                    &name,
                    settings,
                    lifetime.unwrap_or(SEGMENT_LIFETIME),
                    &actor(),
                )
                .await?;
            println!("segment {name} created: {digits}-digit PINs, salt generation 1");
        }
        SegmentCommand::Rotate {
            name,
            window,
            lifetime,
        } => {
            let next = segments
                .rotate(
                    &name,
                    window,
                    lifetime.unwrap_or(SEGMENT_LIFETIME),
                    &actor(),
                )
                .await?;
            println!(
                "segment {name}: salt generation {} from now until {}; the previous PINs work for {} more",
                next.number,
                rfc3339(next.valid_until),
                inkan_pki::duration_text::format(&window)
            );
        }
        SegmentCommand::RevokeCard { name, idm, reason } => {
            let card = idm_card(&idm)?;
            if segments
                .revoke_card(&name, &card, &reason, &actor())
                .await?
            {
                println!("card {} revoked in segment {name}", hex::encode(card.idm));
            } else {
                println!(
                    "card {} was revoked in segment {name} already",
                    hex::encode(card.idm)
                );
            }
        }
        SegmentCommand::RegisterCard { name, idm, holder } => {
            let card = idm_card(&idm)?;
            let added = segments
                .register_card(&name, &card, &holder, &actor())
                .await?;
            let idm = hex::encode(card.idm);
            if added {
                println!("card {idm} of {holder} registered in segment {name} (level 1)");
            } else {
                println!("card {idm} was registered in segment {name} already");
            }
        }
        SegmentCommand::UnregisterCard { name, idm } => {
            let card = idm_card(&idm)?;
            if !segments.unregister_card(&name, &card, &actor()).await? {
                anyhow::bail!(
                    "card {} is not registered in segment {name}",
                    hex::encode(card.idm)
                );
            }
            println!(
                "card {} unregistered from segment {name}",
                hex::encode(card.idm)
            );
        }
        SegmentCommand::AddUser { name, user, idm } => {
            let card = idm_card(&idm)?;
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            segments
                .add_user(&name, &user, &card, password, &actor())
                .await?;
            println!(
                "user {user} added to segment {name} (level 3, card {})",
                hex::encode(card.idm)
            );
        }
        SegmentCommand::RemoveUser { name, user } => {
            if !segments.remove_user(&name, &user, &actor()).await? {
                anyhow::bail!("no user {user:?} in segment {name}");
            }
            println!("user {user} removed from segment {name}");
        }
        SegmentCommand::Unlock { name, idm, address } => {
            let card = idm.as_deref().map(idm_card).transpose()?;
            if segments
                .unlock(&name, card.as_ref(), address, &actor())
                .await?
            {
                println!("unlocked: its failed logins are cleared");
            } else {
                println!("nothing to unlock: no failed logins recorded");
            }
        }
        SegmentCommand::Attempts { name, json } => {
            let list = segments.failed_attempts(name.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|a| {
                        let locked = match a.locked_until_ms {
                            inkan_store::LOCKED_UNTIL_UNLOCKED => "until unlocked".to_string(),
                            until if until > now => rfc3339(until / 1000),
                            _ => "no".into(),
                        };
                        vec![
                            a.segment.clone(),
                            a.subject.clone(),
                            a.failures.to_string(),
                            locked,
                            rfc3339(a.last_failure_ms / 1000),
                        ]
                    })
                    .collect();
                table(
                    &["SEGMENT", "SUBJECT", "FAILURES", "LOCKED", "LAST FAILURE"],
                    &rows,
                );
            }
        }
        SegmentCommand::List { name: None, json } => {
            let list = segments.list().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            s.pin_digits.to_string(),
                            if s.use_pmm { "yes" } else { "no" }.into(),
                            rfc3339(s.created_at_ms / 1000),
                        ]
                    })
                    .collect();
                table(&["SEGMENT", "DIGITS", "PMM", "CREATED"], &rows);
            }
        }
        SegmentCommand::List {
            name: Some(name),
            json,
        } => {
            let (segment, generations) = segments.show(&name).await?;
            let revoked = segments.revoked_cards(&name).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "segment": segment,
                        "generations": generations,
                        "revoked_cards": revoked,
                    })
                );
            } else {
                let rows: Vec<Vec<String>> = generations
                    .iter()
                    .map(|g| {
                        vec![
                            g.number.to_string(),
                            rfc3339(g.valid_from),
                            rfc3339(g.valid_until),
                        ]
                    })
                    .collect();
                table(&["GENERATION", "FROM", "UNTIL"], &rows);
                for card in &revoked {
                    println!(
                        "revoked card {} ({}, {})",
                        card.idm,
                        card.reason,
                        rfc3339(card.revoked_at_ms / 1000)
                    );
                }
            }
        }
    }
    Ok(())
}

pub async fn run_pin(data_dir: &DataDir, cmd: PinCommand) -> anyhow::Result<()> {
    let PinCommand::Issue {
        segment,
        idm,
        reader,
        system_code,
        pmm,
    } = cmd;
    let (idm, pmm) = match (idm, reader) {
        (Some(idm), _) => (idm, pmm),
        (None, Some(reader)) => {
            let reader = (!reader.is_empty()).then_some(reader);
            let card = tokio::task::spawn_blocking(move || {
                super::agent_card::read_card_blocking(reader.as_deref())
            })
            .await??;
            eprintln!("read card {} on {}", hex::encode(card.idm), card.reader);
            (hex::encode(card.idm), pmm.or(card.pmm.map(hex::encode)))
        }
        (None, None) => anyhow::bail!("give the card: --idm IDM, or --reader to read it"),
    };
    let card =
        CardData::parse(&system_code, &idm, pmm.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let issued = segments(data_dir)
        .await?
        .issue_pin(&segment, &card, &actor())
        .await?;
    eprintln!(
        "PIN of card {} in segment {segment} (salt generation {}, valid until {}); shown once:",
        hex::encode(card.idm),
        issued.generation,
        rfc3339(issued.valid_until)
    );
    println!("{}", issued.pin);
    Ok(())
}
