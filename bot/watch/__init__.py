"""The account watch: outside changes found and reported, and the daily digest.

`AccountWatch` reads the account on a schedule held by one replica at a time and reports what
changed outside fpbot; `OutsideChanges` handles the buttons on those reports (Acknowledge,
Revert, Keep); `Digest` sums the account up, on ``/fp digest`` and once a day.
"""

from bot.watch.digest import Digest
from bot.watch.outside import OutsideChanges
from bot.watch.watcher import AccountWatch

__all__ = ["AccountWatch", "Digest", "OutsideChanges"]
