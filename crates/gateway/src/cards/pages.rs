//! The login page: server-rendered HTML whose script asks the local card reader helper for
//! the card and fills it into the form; without the helper, the card fields can be typed.

/// What the page shows.
pub(crate) struct LoginPage<'a> {
    /// The segment of the route.
    pub segment: &'a str,
    /// The level the route needs.
    pub level: u8,
    /// Where to go after the login.
    pub next: &'a str,
    /// The form token (also in a cookie).
    pub form_token: &'a str,
    /// The card reader helper's URL.
    pub helper: &'a str,
    /// A refusal to show above the form.
    pub problem: Option<&'a str>,
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn what_level(level: u8) -> &'static str {
    match level {
        0 | 1 => "your card",
        2 => "your card and its PIN",
        _ => "your card, its PIN and your password",
    }
}

impl LoginPage<'_> {
    /// The HTML.
    pub(crate) fn render(&self) -> String {
        let problem = self.problem.map_or(String::new(), |p| {
            format!(r#"<p id="problem" role="alert">{}</p>"#, escape(p))
        });
        let pin = if self.level >= 2 {
            r#"<label>PIN <input name="pin" id="pin" type="password" inputmode="numeric" autocomplete="off" pattern="[0-9]{6,10}" maxlength="10" required></label>"#
        } else {
            ""
        };
        let password = if self.level >= 3 {
            r#"<label>User <input name="user" id="user" autocomplete="username" maxlength="64" required></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password" maxlength="1024" required></label>"#
        } else {
            ""
        };
        format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Log in with your card — {segment}</title>
<style>body{{font:16px system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin:.8rem 0}}input{{display:block;width:100%;box-sizing:border-box;font-size:1.1rem;padding:.3rem}}
#problem{{background:#fde8e8;border:1px solid #c00;padding:.6rem}}#card{{padding:.6rem;background:#eef}}
button{{font-size:1.1rem;padding:.4rem 1.2rem}}</style></head>
<body><h1>Log in with your card</h1>
<p>Segment <strong>{segment}</strong> needs {what}.</p>
{problem}
<p id="card" data-helper="{helper}">Touch your card on the reader.</p>
<form method="post" action="/_inkan/card/login" id="login">
<input type="hidden" name="form" value="{form}">
<input type="hidden" name="next" value="{next}">
<input type="hidden" name="segment" value="{segment}">
<details><summary>Card data</summary>
<label>IDm <input name="idm" id="idm" maxlength="23" required autocomplete="off"></label>
<label>PMm <input name="pmm" id="pmm" maxlength="23" autocomplete="off"></label>
<label>System code <input name="system_code" id="system_code" value="0003" maxlength="4" autocomplete="off"></label>
</details>
{pin}
{password}
<button type="submit" id="submit">Log in</button>
</form>
<script src="/_inkan/card/login.js"></script>
</body></html>
"#,
            segment = escape(self.segment),
            what = what_level(self.level),
            helper = escape(self.helper),
            form = escape(self.form_token),
            next = escape(self.next),
        )
    }
}

/// The page after a login bound to the card: hands the presence token to the card helper,
/// then goes on.
pub(crate) struct BoundPage<'a> {
    /// Where to go.
    pub next: &'a str,
    /// The card reader helper's URL.
    pub helper: &'a str,
    /// The session's presence token.
    pub presence: &'a str,
    /// The card's IDm.
    pub idm: &'a str,
}

impl BoundPage<'_> {
    /// The HTML.
    pub(crate) fn render(&self) -> String {
        format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Logged in</title></head>
<body style="font:16px system-ui,sans-serif;max-width:28rem;margin:3rem auto">
<p id="bound" data-helper="{helper}" data-presence="{presence}" data-idm="{idm}" data-next="{next}">
Logged in. Keep your card on the reader: taking it off logs you out.</p>
<p><a href="{next}" id="next">Continue</a></p>
<script src="/_inkan/card/bound.js"></script>
</body></html>
"#,
            helper = escape(self.helper),
            presence = escape(self.presence),
            idm = escape(self.idm),
            next = escape(self.next),
        )
    }
}

/// The bound page's script: asks the helper to watch the card for this session, then goes on.
pub(crate) const BOUND_JS: &str = r#""use strict";
(async function () {
  const bound = document.getElementById("bound");
  try {
    const answer = await fetch(bound.dataset.helper + "/watch", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: bound.dataset.presence, idm: bound.dataset.idm }),
    });
    if (!answer.ok) {
      bound.textContent = "The card reader helper refused to watch the card: " + answer.status;
      return;
    }
  } catch (e) {
    bound.textContent = "The card reader helper does not answer: start `inkan agent card`.";
    return;
  }
  location.replace(bound.dataset.next);
})();
"#;

/// The page's script: asks the helper for the card every second and shows it.
pub(crate) const LOGIN_JS: &str = r#""use strict";
(function () {
  const status = document.getElementById("card");
  const helper = status.dataset.helper;
  const idm = document.getElementById("idm");
  const pmm = document.getElementById("pmm");
  const code = document.getElementById("system_code");
  async function poll() {
    try {
      const answer = await fetch(helper + "/card", { cache: "no-store" });
      if (answer.ok) {
        const card = await answer.json();
        idm.value = card.idm;
        pmm.value = card.pmm || "";
        code.value = card.system_code || "0003";
        status.textContent = "Card " + card.idm + " on the reader.";
        status.dataset.state = "present";
      } else {
        idm.value = "";
        status.textContent = "Touch your card on the reader.";
        status.dataset.state = "absent";
      }
    } catch (e) {
      status.textContent = "The card reader helper does not answer: start `inkan agent card`.";
      status.dataset.state = "no-helper";
    }
  }
  poll();
  setInterval(poll, 1000);
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_fields_follow_the_level() {
        let page = LoginPage {
            segment: "physics",
            level: 3,
            next: "/\"><script>",
            form_token: "t",
            helper: "http://127.0.0.1:47120",
            problem: Some("<b>no</b>"),
        }
        .render();
        assert!(page.contains("/&quot;&gt;&lt;script&gt;"));
        assert!(page.contains("&lt;b&gt;no&lt;/b&gt;"));
        assert!(page.contains(r#"name="pin""#) && page.contains(r#"name="password""#));
        let one = LoginPage {
            segment: "physics",
            level: 1,
            next: "/",
            form_token: "t",
            helper: "h",
            problem: None,
        }
        .render();
        assert!(!one.contains(r#"name="pin""#) && !one.contains(r#"id="problem""#));
    }
}
