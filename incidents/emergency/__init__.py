"""应急指挥 (emergency command, issue 16): plans (预案: ``plans``) and responses (应急响应:
``response``) that drive member units' tasks through the case loop (上情下达)."""
