"""The bot's handlers: commands, photos and image files, buttons, everything else, and the error handler."""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass

from telegram import Message, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot import buttons, media, texts
from bot.service import PhotoRef, bot_service
from cleanmessy.errors import ImageError
from cleanmessy.labels import LABELS
from cleanmessy.verdict import Verdict

logger = logging.getLogger(__name__)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: greet and say what to send."""
    await update.effective_message.reply_text(texts.START)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: photos vs files, privacy, limits."""
    config = bot_service(context).config
    await update.effective_message.reply_text(
        texts.help_text(config.max_bytes / 1024 / 1024, config.rate_limit, config.rate_window)
    )


async def about(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/about: the model id and its measured accuracy."""
    info = await asyncio.to_thread(lambda: bot_service(context).model_info)
    await update.effective_message.reply_text(texts.about_text(info))


async def hint(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text, stickers, voice...: say what the bot expects."""
    await update.effective_message.reply_text(texts.HINT)


@dataclass
class AlbumPhoto:
    """One photo of a message or album on its way to an answer."""

    file_id: str | None = None
    data: bytes | None = None
    answer: Verdict | str | None = None
    """Its verdict, or the friendly reason it has none; ``None`` until known."""


async def _fetch(context: ContextTypes.DEFAULT_TYPE, message: Message) -> tuple[str, bytes] | str:
    """``(file_id, bytes)`` of the message's image, or the friendly reason it cannot be used."""
    try:
        incoming = media.incoming_image(message)
        if incoming is None:
            return texts.HINT
        return incoming.file_id, await media.download(context.bot, incoming, bot_service(context).config.max_bytes)
    except media.Rejected as rejected:
        return str(rejected)


async def image(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A photo or an image file: reply with the verdict. An album is answered once, photo by photo."""
    service = bot_service(context)
    album = await service.albums.collect(update.effective_message)
    if album is None:  # another photo of an album whose first photo answers for all
        return
    first = album[0]
    wait = service.rate.take(update.effective_user.id if update.effective_user else first.chat_id, cost=len(album))
    if wait:
        await first.reply_text(texts.RATE_LIMITED.format(seconds=max(1, round(wait))), do_quote=True)
        return
    typing = context.bot.send_chat_action(first.chat_id, ChatAction.TYPING)  # overlaps with the downloads
    _, *fetched = await asyncio.gather(typing, *(_fetch(context, message) for message in album))
    photos = [AlbumPhoto(answer=item) if isinstance(item, str) else AlbumPhoto(*item) for item in fetched]
    pending = [photo for photo in photos if photo.answer is None]
    for photo, result in zip(pending, await service.classify([photo.data for photo in pending]) if pending else []):
        photo.answer = texts.BAD_IMAGE.format(reason=str(result).rstrip(".")) if isinstance(result, ImageError) else result

    if len(album) == 1 and isinstance(photos[0].answer, str):
        await first.reply_text(photos[0].answer, do_quote=True)
        return
    refs = [PhotoRef(photo.file_id, photo.answer) if isinstance(photo.answer, Verdict) else None for photo in photos]
    reply = await first.reply_text(
        texts.verdict_text([photo.answer for photo in photos], service.unsure_below),
        reply_markup=buttons.verdict_keyboard([i for i, ref in enumerate(refs) if ref], numbered=len(album) > 1),
        do_quote=True,
    )
    service.remember(reply.chat_id, reply.message_id, refs)


async def _photo_behind(context: ContextTypes.DEFAULT_TYPE, reply: Message, index: int) -> tuple[PhotoRef, bytes] | None:
    """The photo a verdict button refers to and its bytes: from memory, else re-classified from the quoted message."""
    service = bot_service(context)
    photo = service.recall(reply.chat_id, reply.message_id, index)
    if photo is not None:
        data = await media.download(context.bot, media.Incoming(photo.file_id, None), service.config.max_bytes)
        return photo, data
    quoted = reply.reply_to_message
    if index != 0 or quoted is None:  # a restarted bot or another serverless instance; albums need memory
        return None
    fetched = await _fetch(context, quoted)
    if isinstance(fetched, str):
        return None
    file_id, data = fetched
    (verdict,) = await service.classify([data])
    return (PhotoRef(file_id, verdict), data) if isinstance(verdict, Verdict) else None


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A tap on Why? (send the heatmap) or 👍/👎 (store feedback); the used buttons are edited away."""
    query = update.callback_query
    parsed = buttons.parse_callback(query.data)
    if parsed is None or not isinstance(query.message, Message):  # not ours, or too old to edit
        await query.answer()
        return
    action, index = parsed
    service = bot_service(context)
    if action == buttons.WHY and (wait := service.rate.take(query.from_user.id)):
        await query.answer(texts.RATE_LIMITED.format(seconds=max(1, round(wait))), show_alert=True)
        return
    found = await _photo_behind(context, query.message, index)
    if found is None:
        await query.answer(texts.PHOTO_GONE, show_alert=True)
        return
    photo, data = found

    if action == buttons.WHY:
        await query.answer()
        await context.bot.send_chat_action(query.message.chat_id, ChatAction.UPLOAD_PHOTO)
        explanation = await service.explain(data)
        buffer = io.BytesIO()
        explanation.overlay.save(buffer, format="JPEG", quality=85)
        await query.message.reply_photo(
            buffer.getvalue(),
            caption=texts.WHY_CAPTION.format(headline=explanation.verdict.headline),
            do_quote=True,
        )
        used = (buttons.WHY,)
    else:
        right = action == buttons.RIGHT
        correct = photo.verdict.label if right else next(label for label in LABELS if label != photo.verdict.label)
        await service.save_feedback(data, photo.verdict, correct)
        await query.answer(texts.THANKS[right].format(label=correct))
        used = (buttons.RIGHT, buttons.WRONG)
    try:
        await query.edit_message_reply_markup(buttons.without_buttons(query.message.reply_markup, index, used))
    except BadRequest as error:  # a double tap: the first one already removed the buttons
        logger.debug("buttons not edited: %s", error)


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log any exception (secrets are redacted by the log filter) and apologise to the user."""
    logger.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update):
        return
    try:
        if update.callback_query:
            await update.callback_query.answer(texts.APOLOGY, show_alert=True)
        elif update.effective_message:
            await update.effective_message.reply_text(texts.APOLOGY)
    except TelegramError as error:
        logger.warning("could not send the apology: %s", error)


def register(application: Application) -> None:
    """Attach every handler to ``application``. Only new messages count: edits and channel posts are ignored."""
    new_message = filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler("start", start, filters=new_message))
    application.add_handler(CommandHandler("help", help_command, filters=new_message))
    application.add_handler(CommandHandler("about", about, filters=new_message))
    application.add_handler(MessageHandler(new_message & (filters.PHOTO | filters.Document.ALL), image))
    application.add_handler(CallbackQueryHandler(button))
    application.add_handler(MessageHandler(new_message, hint))
    application.add_error_handler(error_handler)
