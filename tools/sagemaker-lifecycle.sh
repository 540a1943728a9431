#!/bin/bash
# SageMaker notebook-instance lifecycle configuration (paste as the "Start notebook" script).
#
# Lifecycle scripts must return within 5 minutes, so this one only writes a runner script
# and starts it in the background under nohup; the runner installs the environment and runs
# `heyjoe pipeline`, logging everything to files:
#   $HEYJOE_HOME/logs/setup.log     environment installation
#   $HEYJOE_HOME/logs/pipeline.log  `heyjoe pipeline` (run records go to $HEYJOE_REPO/runs/)
#   $HEYJOE_HOME/logs/status        "installing", "running", "done" or "failed <exit code>"
#
# Settings (edit here; never put credentials in this script, the instance role is used):
#   HEYJOE_REPO     checkout of heyjoe on the persistent volume (cloned from HEYJOE_GIT_URL if missing)
#   HEYJOE_PROFILE  pipeline profile: quick (minutes) or full (hours)
set -euo pipefail

NB_USER=ec2-user
HEYJOE_HOME=/home/$NB_USER/SageMaker/heyjoe-work   # persistent across restarts (the EBS volume)
HEYJOE_REPO=/home/$NB_USER/SageMaker/heyjoe
HEYJOE_GIT_URL=${HEYJOE_GIT_URL:-}                 # e.g. https://github.com/<you>/heyjoe.git
HEYJOE_PROFILE=${HEYJOE_PROFILE:-quick}

mkdir -p "$HEYJOE_HOME/logs"
RUNNER=$HEYJOE_HOME/run-pipeline.sh

cat > "$RUNNER" <<RUNNER_EOF
#!/bin/bash
set -uo pipefail
LOGS=$HEYJOE_HOME/logs
echo installing > "\$LOGS/status"
{
  set -e
  if [ ! -d "$HEYJOE_REPO" ]; then
    if [ -z "$HEYJOE_GIT_URL" ]; then echo "no checkout at $HEYJOE_REPO and no HEYJOE_GIT_URL"; exit 3; fi
    git clone "$HEYJOE_GIT_URL" "$HEYJOE_REPO"
  fi
  cd "$HEYJOE_REPO"
  sudo bash tools/install-system-deps.sh || echo "WARNING: system tools not installed (espeak-ng, sox, ffmpeg ...)"
  if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
  .venv/bin/pip install --upgrade pip
  .venv/bin/pip install -e .
} >> "\$LOGS/setup.log" 2>&1 || { echo "failed setup" > "\$LOGS/status"; exit 1; }
echo running > "\$LOGS/status"
cd "$HEYJOE_REPO"
.venv/bin/heyjoe pipeline --profile "$HEYJOE_PROFILE" --no-progress >> "\$LOGS/pipeline.log" 2>&1
rc=\$?
if [ \$rc -eq 0 ]; then echo done > "\$LOGS/status"; else echo "failed \$rc" > "\$LOGS/status"; fi
RUNNER_EOF

chmod +x "$RUNNER"
chown -R "$NB_USER" "$HEYJOE_HOME"
# in the background, as the notebook user, surviving this script's exit
sudo -u "$NB_USER" -i nohup bash "$RUNNER" > "$HEYJOE_HOME/logs/nohup.log" 2>&1 &
echo "heyjoe pipeline started in the background; logs in $HEYJOE_HOME/logs"
exit 0
