"""Add ``tokens_revoked_at`` to identity links: tokens issued before it are refused (``revoke_tokens()``).

Nullable, so existing links need no value and nothing is revoked by the upgrade.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("auth0_drf", "0005_user_sync"),
    ]

    operations = [
        migrations.AddField(
            model_name="auth0identity",
            name="tokens_revoked_at",
            field=models.DateTimeField(
                blank=True,
                help_text=(
                    "Access tokens of this identity issued before this moment are refused with 401 token_revoked. "
                    "Empty: none are."
                ),
                null=True,
                verbose_name="tokens revoked at",
            ),
        ),
    ]
