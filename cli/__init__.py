"""Entry points: hero-onboarding, hero-admin (and later hero-node, hero-login)."""
