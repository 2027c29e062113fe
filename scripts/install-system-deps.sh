#!/usr/bin/env bash
# Debian packages the project needs: CJK fonts and HarfBuzz subsetting for PDFs (WeasyPrint),
# poppler-utils for the PDF tests (pdffonts, pdftoppm), dovecot-imapd for the IMAP source tests.
# Installs only what is missing.
set -euo pipefail
needed=(fonts-noto-cjk libharfbuzz-subset0 poppler-utils libpango-1.0-0 libpangoft2-1.0-0 dovecot-imapd)
missing=()
for pkg in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
